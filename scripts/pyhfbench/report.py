"""Backend comparison report: one machine, one commit, every backend and device.

asv's dashboard shows each benchmark over commits. This report is the other
view: on one machine at one commit (the latest by default), how do the
backends and devices compare, how does the time scale, do the backends agree
on the physics, and where do the utilization figures and profiles live.

It reads ``results/`` through results.py (asv's own reader underneath) and writes

* ``<out>/index.html``: one static page (no JavaScript), one section per machine;
* ``<out>/report.md``: the same in Markdown, for a pyhf website case study;
* ``<out>/img/<machine>/*.png`` and ``*.svg``: the plots (matplotlib).

Sections per machine: what was measured and what is missing (n/a = skipped,
failed, benchmarks not run, with the likely reason per backend and device);
time per backend and device with the speedup relative to NumPy on the CPU;
GPU versus CPU per backend; scaling with every numeric parameter (bins,
batch size, threads, workers); the tracked results side by side with the
largest disagreement between backends highlighted; peak memory; the
utilization figures of ``bench_utilization``; the profiles of
``scripts/profile`` at that commit.

The parts: report_data.py reads one commit and computes the numbers,
report_render.py renders blocks to HTML and Markdown and draws the plots,
report_sections.py builds the sections, report_lanes.py the table per
workload and lane; this module assembles a page per machine.

``add_report_pages(results_dir, html_dir)`` is what the main job and the
nightly call after ``asv publish`` (which wipes ``html/``): it writes the
report to ``html/report/`` and links it from asv's index page (the offline
dashboard is dashboard_assets', called from dashboard.finish_dashboard).
"""

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import asv_index, inputs
from .aside import ForeignFolder, built_aside, refuse_foreign
from .results import FAILED, OK, SKIPPED, ResultsError
from .results import described_machines as machines
from .report_data import LINK_ID, REPORT_FOLDER, REPO_ROOT, ReportError, load_commit, slug
from .report_lanes import lanes_section, load_findings
from .report_render import render_html, render_markdown
from .report_sections import (_date, comparison_section, coverage_section, gpu_section,
                              memory_section, profiles_section, scaling_section, stack_blocks,
                              tracked_section, utilization_section)


def machine_blocks(report, results_dir, html_dir, out_dir, regressions=None):
    """All sections for one machine at one commit; returns (blocks, figures, counts)."""
    anchor = f"m-{slug(report.machine)}"
    img_dir = out_dir / "img" / slug(report.machine)
    rel = f"img/{slug(report.machine)}"
    figures = []
    info = report.machine_info
    blocks = [("h", 2, f"Machine {report.machine}", anchor)]
    described = ", ".join(f"{k} {info[k]}" for k in ("cpu", "num_cpu", "ram", "os", "arch")
                          if info.get(k))
    blocks.append(("p", f"Commit `{report.commit[:12]}` ({_date(report.date)}), "
                        f"{'the latest' if report.commit == report.commits[0][0] else 'one'} of "
                        f"{len(report.commits)} commit{'s' if len(report.commits) > 1 else ''} "
                        "with results on this machine."
                        + (f" Machine: {described}." if described else "")))
    blocks += stack_blocks(report)
    if len(report.commits) > 1:
        others = [f"`{c[:8]}` ({_date(d)})" for c, d in report.commits if c != report.commit]
        blocks.append(("p", f"Other commits with results: {', '.join(others[:10])}"
                            + (" ..." if len(others) > 10 else "")
                            + ". `scripts/report --commit HASH` reports on one of them; "
                              "the [dashboard](../index.html) shows the history."))
    coverage, counts = coverage_section(report, anchor)
    blocks += coverage
    blocks += comparison_section(report, anchor, img_dir, rel, figures)
    blocks += gpu_section(report, anchor, img_dir, rel, figures)
    blocks += scaling_section(report, anchor, img_dir, rel, figures)
    blocks += tracked_section(report, anchor)
    blocks += lanes_section(report, anchor, load_findings(regressions, report.commit))
    blocks += memory_section(report, anchor)
    blocks += utilization_section(report, results_dir, html_dir, anchor, out_dir, rel)
    blocks += profiles_section(report, results_dir, anchor, out_dir)
    return blocks, figures, counts


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1200px; color: #222; }
h2 { border-bottom: 2px solid #4C72B0; padding-bottom: 4px; margin-top: 2em; }
h4 { margin-bottom: 0.3em; font-family: monospace; font-size: 100%; }
table.results { border-collapse: collapse; margin: 0.5em 0 1em 0; }
table.results td, table.results th { border: 1px solid #ccc; padding: 3px 8px; font-size: 88%; }
table.results th { background: #f0f3f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.na { color: #888; }
td.failed { color: #fff; background: #c0392b; }
td.worst { background: #ffe08a; font-weight: bold; }
figure { margin: 0.5em 0 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 85%; color: #555; }
img.thumb { width: 240px; margin: 4px; border: 1px solid #ddd; }
p.note { color: #8a6d3b; font-size: 90%; }
nav.toc { background: #f7f7f7; padding: 0.5em 1em; border: 1px solid #ddd; }
"""


def build_report(results_dir, out_dir, machine=None, commit=None, html_dir=None,
                 regressions=None):
    """Write the report for ``machine`` (default: every machine) at ``commit`` (default: latest).

    Returns a dict: index (path), markdown (path), figures (paths), machines
    ({machine: {commit, measured, n/a, failed}}), errors ([text]). ``regressions``: the
    gate's regressions.json (path or dict), for the lanes' columns of the workload table.
    """
    results_dir, final_dir = Path(results_dir), Path(out_dir)
    refuse_foreign(final_dir, is_report_folder, "report folder")
    wanted = [machine] if isinstance(machine, str) else list(machine or machines(results_dir))
    # A result file or benchmarks.json that cannot be read: nothing is presented as the latest.
    inputs.require_readable(results_dir, wanted)
    with built_aside(final_dir) as out_dir:  # the old report stays whole on any failure
        result = _build_report(results_dir, out_dir, wanted, commit, html_dir, regressions)
        (out_dir / REPORT_MARKER).write_text("written by scripts/report; replaced whole on "
                                             "each run\n")
    moved = lambda path: final_dir / Path(path).relative_to(out_dir)
    return dict(result, index=moved(result["index"]), markdown=moved(result["markdown"]),
                figures=[moved(f) for f in result["figures"]])


#: In a report folder: this command wrote it, so a new report may replace it.
REPORT_MARKER = ".pyhfbench-report"


def is_report_folder(folder):
    """Whether ``folder`` holds a report of this command (marked, or one from before the mark)."""
    if (folder / REPORT_MARKER).is_file():
        return True
    try:
        page = (folder / "index.html").read_text(errors="replace")[:4000]
    except OSError:
        return False
    return (folder / "report.md").is_file() and "pyhf-benchmarks: backend comparison report" in page


def _build_report(results_dir, out_dir, wanted, commit, html_dir, regressions):
    all_blocks, figures, summary, errors, toc = [], [], {}, [], []
    started = time.perf_counter()
    for name in wanted:
        try:
            report = load_commit(results_dir, name, commit)
        except ReportError as err:
            errors.append(str(err))
            all_blocks += [("h", 2, f"Machine {name}", f"m-{slug(name)}"), ("p", str(err))]
            continue
        blocks, figs, counts = machine_blocks(report, results_dir, html_dir, out_dir,
                                              regressions)
        all_blocks += blocks
        figures += figs
        summary[name] = {"commit": report.commit, "measured": counts[OK],
                         "n/a": counts[SKIPPED], "failed": counts[FAILED]}
        toc.append(f"[{name}](#m-{slug(name)}): commit `{report.commit[:8]}`, "
                   f"{counts[OK]} measured, {counts[SKIPPED]} n/a, {counts[FAILED]} failed")
    if not wanted:
        errors.append(f"no results in {results_dir}")
        all_blocks.append(("p", f"No results in `{results_dir}` yet: run `asv run` first."))
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    intro = [("h", 1, "pyhf backend comparison report", None),
             ("p", "How pyhf's backends and devices compare on each machine at one commit, "
                   "where the time goes, and what is missing. The history of every benchmark "
                   f"is on the [asv dashboard](../index.html). Generated {generated} by "
                   "`scripts/report` from asv's results."),
             ("ul", toc or ["no machine"])]
    body = render_html(intro[:2]) + '\n<nav class="toc">' + render_html(intro[2:]) + "</nav>\n" \
        + render_html(all_blocks)
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>pyhf-benchmarks: backend comparison report</title>"
            # No icon request: browsers ask for /favicon.ico, which is not there.
            '<link rel="icon" href="data:,">'
            f"<style>{_STYLE}</style></head><body>\n{body}\n"
            f'<p class="note">Also as <a href="report.md">Markdown</a>. Built in '
            f"{time.perf_counter() - started:.1f} s.</p>\n</body></html>\n")
    index = out_dir / "index.html"
    index.write_text(page)
    markdown = out_dir / "report.md"
    markdown.write_text(render_markdown(intro + all_blocks))
    return {"index": index, "markdown": markdown, "figures": [out_dir / f.png for f in figures],
            "machines": summary, "errors": errors}


# --------------------------------------------------------------------------- the dashboard

def add_link(index_html, href=f"{REPORT_FOLDER}/index.html"):
    """Put a link to the report on asv's index page (once)."""
    return asv_index.add_link(index_html, LINK_ID, href, "Backend comparison report", bottom=36)


def add_report_pages(results_dir, html_dir, machine=None, commit=None, link=True,
                     regressions=None):
    """Write the report into ``html_dir/report/`` and link it from asv's index page.

    Call after ``asv publish`` (which wipes ``html_dir``); dashboard.finish_dashboard
    does, with the rest of what the project adds to the page.
    Returns the report's index.html path.
    """
    html_dir = Path(html_dir)
    result = build_report(results_dir, html_dir / REPORT_FOLDER, machine=machine,
                          commit=commit, html_dir=html_dir, regressions=regressions)
    if link:
        add_link(html_dir / "index.html")
    return result["index"]


# --------------------------------------------------------------------------- command line

def _config_paths(config):
    from asv.util import load_json

    data = load_json(str(config), js_comments=True)
    base = Path(config).resolve().parent

    def resolve(key, default):
        path = Path(data.get(key, default))
        return path if path.is_absolute() else (base / path)
    return resolve("results_dir", "results"), resolve("html_dir", "html")


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/report",
        description="Backend and device comparison report from asv's results: tables, plots "
        "(PNG, SVG), an HTML page beside asv's dashboard and a Markdown version.",
    )
    parser.add_argument("--config", help="asv configuration to take results_dir and html_dir "
                        "from (default: asv.conf.json)")
    parser.add_argument("--results-dir", help="asv results folder (default: from the config)")
    parser.add_argument("--html-dir", help="asv's published dashboard (default: from the config)")
    parser.add_argument("--output", help="report folder (default: HTML_DIR/report)")
    parser.add_argument("--machine", action="append",
                        help="machine to report on (repeatable; default: every machine)")
    parser.add_argument("--commit", help="commit hash or prefix (default: each machine's latest)")
    parser.add_argument("--regressions", metavar="JSON",
                        help="the gate's regressions.json: which lane flagged what, in the "
                        "table of instructions and time per workload")
    parser.add_argument("--no-link", action="store_true",
                        help="do not link the report from asv's index.html")
    args = parser.parse_args(argv)

    results_dir, html_dir = _config_paths(args.config or REPO_ROOT / "asv.conf.json")
    results_dir = Path(args.results_dir) if args.results_dir else results_dir
    html_dir = Path(args.html_dir) if args.html_dir else html_dir
    out_dir = Path(args.output) if args.output else html_dir / REPORT_FOLDER
    try:
        result = build_report(results_dir, out_dir, machine=args.machine, commit=args.commit,
                              html_dir=html_dir, regressions=args.regressions)
    except (ReportError, ResultsError, ForeignFolder) as err:
        print(f"report: {err}; nothing written", file=sys.stderr)
        return 2
    except Exception as err:  # a bug or an unforeseen input: a message, and the old report stays
        print(f"report: unexpected {type(err).__name__}: {err}; nothing written", file=sys.stderr)
        return 2
    if not args.no_link and out_dir.resolve().parent == html_dir.resolve():
        add_link(html_dir / "index.html", f"{out_dir.name}/index.html")
    for name, counts in result["machines"].items():
        print(f"{name}: commit {counts['commit'][:8]}: {counts['measured']} measured, "
              f"{counts['n/a']} n/a, {counts['failed']} failed")
    for error in result["errors"]:
        print(f"report: {error}", file=sys.stderr)
    print(f"Report: {result['index']}")
    print(f"Markdown: {result['markdown']}")
    print(f"Plots: {len(result['figures'])} (PNG and SVG) in {out_dir / 'img'}")
    return 0 if result["machines"] else 1
