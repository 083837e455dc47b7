"""The main job's published dashboard, opened in headless Chromium with the network off.

The results are real: the reduced ``asv run`` of helpers/report_shared (main's tip of pyhf's real history,
environment in ``.asv/test-env``, shared with the other slow tests), plus one
more commit measured the same way on a copy of them, so that a graph has two commits. They
are published by the main job's own publish step (``mainjob.publish``: ``asv
publish``, the report and utilization pages, asv's libraries from html/vendor/),
served by ``python -m http.server`` on 127.0.0.1 and opened in Chromium with
every other host unresolvable. asv's benchmark grid, a graph with both commits,
the report and the utilization pages must render, and any failed request, HTTP
error, request off this host, JavaScript exception or console error fails the test.

Chromium comes from Debian (``scripts/install-chromium``): without it the test is
skipped, except under CI=true where that is a failure. The libraries come from
``scripts/bootstrap``; without them this test fails (the page would need internet).
"""

import os
import shutil
import subprocess

import pytest

from pyhfbench import asvconf, dashboard_assets, localrepo, mainjob, report, utilization_pages
from helpers.report_shared import (ENV_DIR, MACHINE, NETWORK_OFF, SELECTION, Browser, StaticServer,
                                asv, real_results, require_chromium)

pytestmark = pytest.mark.slow

TIME = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    chromium = require_chromium()
    problems = [t for p in dashboard_assets.PACKAGES.values()
                for t in dashboard_assets.package_problems(p, dashboard_assets.DEFAULT_ASSETS_DIR)]
    assert not problems, f"{problems[0]}: run scripts/bootstrap, which fetches the dashboard's libraries"
    run = real_results(tmp_path_factory)
    work = tmp_path_factory.mktemp("main-job-site")
    # A clone of the shared repository, one commit ahead, and a copy of its results.
    subprocess.run(["git", "clone", "--quiet", str(run.work / "pyhf"), str(work / "pyhf")], check=True)
    second = localrepo.add_commit(work / "pyhf", "The next commit (empty), for a graph of two")
    shutil.copytree(run.results_dir, work / "results")
    results_dir, html_dir = work / "results", work / "html"
    config = asvconf.write_config(
        asvconf.derive_config(repo=work / "pyhf", matrix="numpy", results_dir=results_dir,
                              html_dir=html_dir, env_dir=ENV_DIR),
        work / "asv.json")
    asv(config, "machine", "--yes", "--machine", MACHINE, env=run.env)
    asv(config, "run", "--machine", MACHINE, "--quick", "--show-stderr",
        "--bench", SELECTION, f"{second}^!", env=run.env)
    mainjob.publish(config, results_dir, html_dir, MACHINE)
    shots = tmp_path_factory.mktemp("screenshots")
    server = StaticServer(html_dir, shots / "http-server.log")
    browser = Browser(chromium, tmp_path_factory.mktemp("chromium-profile"),
                      shots / "chromium.log", extra_flags=NETWORK_OFF)
    try:
        browser.open_page()
        yield html_dir, server, browser, shots
    finally:
        browser.close()
        server.close()


def assert_clean(browser, server, start):
    assert browser.problems(start) == []
    assert [url for url in browser.requested(start) if not url.startswith(server.url + "/")] == []


def test_the_network_is_off(site):
    _, server, browser, _ = site
    start = browser.navigate(f"{server.url}/index.html")
    blocked = browser.evaluate(
        "fetch('https://code.jquery.com/jquery-3.3.1.min.js').then(() => 'loaded', () => 'blocked')")
    assert blocked == "blocked"
    assert any("load failed" in p for p in browser.problems(start))


def test_published_page_loads_its_libraries_from_vendor(site):
    html_dir, _, _, _ = site
    page = (html_dir / "index.html").read_text()
    assert dashboard_assets.MARK in page
    assert "vendor/flot-orderbars-1.0.0/js/jquery.flot.orderBars.js" in page


def test_benchmark_grid_renders(site):
    _, server, browser, shots = site
    start = browser.navigate(f"{server.url}/index.html")
    assert browser.wait_until("document.querySelectorAll('.benchmark-container').length > 0", 60)
    assert browser.wait_until(
        f"!!document.getElementById('summarygrid-{TIME}') && "
        f"document.getElementById('summarygrid-{TIME}').querySelectorAll('canvas').length > 0",
        30)
    # Scroll through the grid: asv loads each summary graph when it comes into view.
    browser.evaluate("(async () => { for (let y = 0; y < document.body.scrollHeight; y += 500) "
                     "{ window.scrollTo(0, y); await new Promise(r => setTimeout(r, 50)); } })()")
    browser.evaluate("new Promise(r => setTimeout(r, 1000))")
    assert browser.evaluate("location.pathname") == "/index.html"  # not asv's error page
    assert browser.evaluate("$.plot.version") == "0.8.3"
    assert browser.evaluate("typeof $.fn.stupidtable") == "function"
    assert browser.evaluate(f"!!document.getElementById('{report.LINK_ID}')")
    assert browser.evaluate(f"!!document.getElementById('{utilization_pages.LINK_ID}')")
    browser.evaluate("window.scrollTo(0, 0)")
    browser.screenshot(shots / "asv-grid.png")
    assert_clean(browser, server, start)


def test_benchmark_graph_shows_both_commits(site):
    _, server, browser, shots = site
    start = browser.navigate(f"{server.url}/index.html#{TIME}")
    assert browser.wait_until("document.querySelectorAll('#main-graph canvas').length > 0", 60)
    assert browser.evaluate("document.getElementById('title').textContent").strip() == TIME
    commits = browser.evaluate("""(() => {
        const holder = $('#main-graph, #main-graph *').filter(function () { return !!$(this).data('plot'); });
        if (!holder.length) return null;
        const xs = new Set();
        holder.first().data('plot').getData().forEach(s => s.data.forEach(p => {
            if (p && p[1] !== null && !isNaN(p[1])) xs.add(p[0]); }));
        return xs.size; })()""")
    assert commits == 2
    assert not browser.evaluate("$('#error').is(':visible')")
    browser.screenshot(shots / "asv-graph.png")
    assert_clean(browser, server, start)


def test_report_page_renders(site):
    _, server, browser, shots = site
    start = browser.navigate(f"{server.url}/report/index.html")
    assert browser.evaluate("document.title") == "pyhf-benchmarks: backend comparison report"
    images = browser.evaluate(
        "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    assert len(images) >= 5
    assert all(done and width > 300 for _, done, width in images), images
    assert browser.evaluate("document.querySelectorAll('table.results').length") >= 5
    assert browser.evaluate("document.body.innerText").count("numpy/cpu") >= 5
    browser.screenshot(shots / "report.png")
    assert_clean(browser, server, start)


def test_utilization_page_renders(site):
    _, server, browser, shots = site
    start = browser.navigate(f"{server.url}/utilization/index.html")
    assert "utilization" in browser.evaluate("document.title").lower()
    browser.screenshot(shots / "utilization.png")
    assert_clean(browser, server, start)
    print(f"screenshots in {shots}")
    keep = os.environ.get("PYHF_BENCH_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy2(png, keep)
