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

from . import dashboard_assets, inputs, sweep_pages
from .aside import built_aside, refuse_foreign
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
    for page in sweep_pages.copy_sweep_pages(html_dir):
        say(f"stack sweep page: {page}")
    add_empty_summaries(html_dir)
    offline = dashboard_assets.offline_dashboard(
        html_dir, assets_dir or dashboard_assets.DEFAULT_ASSETS_DIR, say=say)
    return utilization, report, offline


def publish_aside(config, results_dir, html_dir, machine=None, asv_args=(), cwd=None):
    """``asv publish`` of ``config`` and ``finish_dashboard``, built beside ``html_dir`` and
    swapped in only when complete: on any failure the published site stays as it was.

    Every results file and benchmarks.json must be readable first (asv would leave an
    unreadable one out, and the dashboard would silently lack its commit). Returns
    ``finish_dashboard``'s (utilization index, report index, offline) at their final place.
    """
    results_dir, html_dir = Path(results_dir), Path(html_dir)
    refuse_foreign(html_dir, is_dashboard_folder, "html folder")
    inputs.require_readable(results_dir)
    with built_aside(html_dir) as work:
        command = [sys.executable, "-m", "asv", "publish", "--config", str(config),
                   "--html-dir", str(work), *asv_args]
        print("$", " ".join(command[2:]), flush=True)
        status = subprocess.run(command, cwd=cwd).returncode
        if status != 0 or not (work / "index.html").is_file() or not (work / "index.json").is_file():
            raise RuntimeError(f"asv publish failed on {config} (exit status {status}); "
                               f"{html_dir} is left as it was")
        utilization, report, offline = finish_dashboard(results_dir, work, machine)
    moved = lambda path: html_dir / Path(path).relative_to(work) if path else path
    return moved(utilization), moved(report), offline


def is_dashboard_folder(folder):
    """Whether ``folder`` holds asv's dashboard (what asv publish writes there, whole or not)."""
    return (folder / "asv.js").is_file() or (folder / "index.json").is_file()


def publish(config, machine=None, asv_args=()):
    """``asv publish`` on ``config``, then ``finish_dashboard``, swapped in whole. Returns the
    html folder."""
    from .report import _config_paths

    results_dir, html_dir = _config_paths(config)
    publish_aside(config, results_dir, html_dir, machine, asv_args)
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
    except (RuntimeError, OSError, ValueError) as err:  # ResultsError, ForeignFolder too
        print(f"publish: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug or an unforeseen input: a message; the old site stays
        print(f"publish: unexpected {type(err).__name__}: {err}; the published site is left "
              "as it was", file=sys.stderr)
        return 2
    print(f"Dashboard: {html_dir / 'index.html'} (serve it: python -m http.server -d {html_dir})")
    return 0
