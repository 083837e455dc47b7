"""The published dashboard, tested as a web page in headless Chromium.

The real reduced run is published with ``asv publish``, then
``add_report_pages`` adds the report (and points asv's page at Debian's
copies of the libraries it would load from CDNs: there is no internet here).
``html/`` is served by ``python -m http.server`` on 127.0.0.1 and opened in
headless Chromium, driven over the DevTools protocol: asv's benchmark grid,
one benchmark's graph and the report page must render with no JavaScript
error and no failed load, and a screenshot of each is kept.

Chromium comes from Debian (``scripts/install-chromium``): without it the
test is skipped, except under CI=true where that is a failure.
"""

import json
import os
import shutil

import pytest

from pyhfbench import report
from test_report_shared import (Browser, StaticServer, asv, real_results, require_chromium)

pytestmark = pytest.mark.slow

TIME = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"


def _under_ci():
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def site(tmp_path_factory, sdist_cache):
    chromium = require_chromium()
    if not report.offline_assets_available():
        message = "Debian's JavaScript packages are missing (scripts/install-chromium)"
        pytest.fail(message) if _under_ci() else pytest.skip(message)
    run = real_results(tmp_path_factory, sdist_cache)
    asv(run.config, "publish", env=run.env)
    report.add_report_pages(run.results_dir, run.html_dir, offline=True)
    shots = tmp_path_factory.mktemp("screenshots")
    server = StaticServer(run.html_dir, shots / "http-server.log")
    browser = Browser(chromium, tmp_path_factory.mktemp("chromium-profile"),
                      shots / "chromium.log")
    try:
        browser.open_page()
        yield run, server, browser, shots
    finally:
        browser.close()
        server.close()


def without_results(problems, html_dir):
    """asv's grid asks for the summary graph of every benchmark of the suite, also of those
    without results at any commit (not run in this reduced selection): those 404s are asv's,
    and expected. Anything else is a problem."""
    measured = {p.stem for p in (html_dir / "graphs" / "summary").glob("*.json")}
    index = json.loads((html_dir / "index.json").read_text())
    unmeasured = set(index["benchmarks"]) - measured
    return [p for p in problems
            if not ("status of 404" in p and "/graphs/summary/" in p
                    and p.split("/graphs/summary/")[1].split(".json")[0] in unmeasured)]


def test_benchmark_grid_renders(site):
    run, server, browser, shots = site
    start = browser.navigate(f"{server.url}/index.html")
    assert browser.wait_until("document.querySelectorAll('.benchmark-container').length > 0", 60)
    assert browser.wait_until(
        f"!!document.getElementById('summarygrid-{TIME}') && "
        f"document.getElementById('summarygrid-{TIME}').querySelectorAll('canvas').length > 0",
        30)
    assert browser.evaluate("location.pathname") == "/index.html"  # not asv's error page
    assert browser.evaluate("typeof jQuery.plot") == "function"
    assert browser.evaluate(f"!!document.getElementById('{report.LINK_ID}')")
    browser.screenshot(shots / "asv-grid.png")
    assert without_results(browser.problems(start), run.html_dir) == []


def test_benchmark_graph_renders(site):
    run, server, browser, shots = site
    start = browser.navigate(f"{server.url}/index.html#{TIME}")
    assert browser.wait_until("document.querySelectorAll('#main-graph canvas').length > 0", 60)
    assert browser.evaluate("document.getElementById('title').textContent").strip() == TIME
    # flot drew the measured points: the canvas is not blank.
    drawn = browser.evaluate("""(() => {
        const c = document.querySelector('#main-graph canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n; })()""")
    assert drawn > 1000
    assert not browser.evaluate("$('#error').is(':visible')")
    browser.screenshot(shots / "asv-graph.png")
    assert browser.problems(start) == []


def test_report_page_renders(site):
    run, server, browser, shots = site
    start = browser.navigate(f"{server.url}/report/index.html")
    assert browser.evaluate("document.title") == "pyhf-benchmarks: backend comparison report"
    images = browser.evaluate(
        "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    assert len(images) >= 5
    assert all(done and width > 300 for _, done, width in images), images
    assert browser.evaluate("document.querySelectorAll('table.results').length") >= 5
    assert browser.evaluate("document.body.innerText").count("numpy/cpu") >= 5
    browser.screenshot(shots / "report.png")
    browser.screenshot(shots / "report-full-page.png", full_page=True)
    assert browser.problems(start) == []
    # Kept for a look: the tmp folder of this test session.
    print(f"screenshots in {shots}")
    keep = os.environ.get("PYHF_BENCH_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy2(png, keep)
