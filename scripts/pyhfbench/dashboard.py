"""What this project adds to asv's dashboard after ``asv publish`` (which wipes html/).

``finish_dashboard`` is the one step every publish runs (scripts/main-job,
scripts/nightly, scripts/publish): the backend report and the utilization
pages, linked from asv's index page; an empty summary graph for each benchmark
without results, so that asv's grid does not ask the server for files that are
not there; and asv's CDN libraries served from html/vendor/ so that the page
opens without internet (see dashboard_assets).
"""

import json
import subprocess
import sys
from pathlib import Path

from . import dashboard_assets
from .report import add_report_pages
from .utilization_pages import add_utilization_pages


def add_project_pages(results_dir, html_dir, machine=None):
    """The utilization time series and the backend report, each linked from asv's index page.

    Returns the paths of the two index pages.
    """
    utilization = add_utilization_pages(results_dir, html_dir)
    report = add_report_pages(results_dir, html_dir, machine=machine)
    return utilization, report


def add_empty_summaries(html_dir):
    """An empty ``graphs/summary/<name>.json`` for each benchmark asv published none for.

    asv's grid requests one per benchmark of the suite, also for those not run
    (a narrowed selection), which ends in 404s in the browser. Returns the names.
    """
    html_dir = Path(html_dir)
    index = json.loads((html_dir / "index.json").read_text())
    summary = html_dir / "graphs" / "summary"
    summary.mkdir(parents=True, exist_ok=True)
    added = []
    for name in index["benchmarks"]:
        path = summary / f"{name}.json"
        if not path.exists():
            path.write_text("[]")
            added.append(name)
    return added


def finish_dashboard(results_dir, html_dir, machine=None, assets_dir=None, say=print):
    """Everything after ``asv publish``; returns (utilization index, report index, offline)."""
    utilization, report = add_project_pages(results_dir, html_dir, machine)
    add_empty_summaries(html_dir)
    offline = dashboard_assets.offline_dashboard(
        html_dir, assets_dir or dashboard_assets.DEFAULT_ASSETS_DIR, say=say)
    return utilization, report, offline


def publish(config, machine=None, asv_args=()):
    """``asv publish`` on ``config``, then ``finish_dashboard``. Returns the html folder."""
    from .report import _config_paths

    command = [sys.executable, "-m", "asv", "publish", "--config", str(config), *asv_args]
    print("$", " ".join(command[2:]), flush=True)
    if subprocess.run(command).returncode != 0:
        raise RuntimeError(f"asv publish failed on {config}")
    results_dir, html_dir = _config_paths(config)
    finish_dashboard(results_dir, html_dir, machine)
    return html_dir


def main(argv=None):
    import argparse

    from .asvconf import REPO_ROOT

    parser = argparse.ArgumentParser(
        prog="scripts/publish",
        description="asv publish, then the project's pages (backend report, utilization) and "
        "asv's JavaScript served from html/vendor/ so that the dashboard opens offline.",
    )
    parser.add_argument("--config", default=str(REPO_ROOT / "asv.conf.json"),
                        help="asv configuration (default: asv.conf.json; the main job's is "
                        ".asv/main-job/asv.json)")
    parser.add_argument("--machine", help="machine the report is about (default: every machine)")
    args, asv_args = parser.parse_known_args(argv)
    try:
        html_dir = publish(args.config, args.machine, asv_args)
    except (RuntimeError, OSError, ValueError) as err:
        print(f"publish: {err}", file=sys.stderr)
        return 2
    print(f"Dashboard: {html_dir / 'index.html'} (serve it: python -m http.server -d {html_dir})")
    return 0
