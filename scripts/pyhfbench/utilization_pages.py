"""Utilization time series on the published dashboard.

``asv publish`` wipes ``html/``, so the sampler keeps its time series beside
the results: ``<results_dir>/<machine>/utilization/<commit>/<series>/``
(``events.jsonl`` and the PNG plots; asv ignores these folders) or the same
layout under ``$PYHF_BENCH_MONITOR_DIR``. After ``asv publish``,
``add_utilization_pages(results_dir, html_dir)`` draws the PNG plots of a
series that has none (the benchmark processes leave them to this step),
copies the series to ``html/utilization/`` with an ``index.html`` listing
them by machine, commit and workload, and puts a link to it on asv's own
index page.
"""

import html
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from . import asv_index
from . import results as resultslib
from .support import settings, support_module

UTILIZATION_FOLDER = "utilization"
EVENTS_FILE = "events.jsonl"
LINK_ID = "pyhf-bench-utilization-link"
#: The plot shown as a thumbnail, first one found.
THUMBNAILS = ("GPU_Utilization.png", "CPU_Utilization.png")


def _read_events(path):
    records = []
    try:
        with open(path) as stream:
            for line in stream:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    break
    except OSError:
        pass
    return records


def find_series(root):
    """[(machine, commit, series name, folder)] under ``root`` (a results dir or a monitor dir)."""
    root = Path(root)
    found = []
    if not root.is_dir():
        return found
    for events in sorted(root.glob(f"*/{UTILIZATION_FOLDER}/*/*/{EVENTS_FILE}")):
        folder = events.parent
        commit_dir = folder.parent
        machine = commit_dir.parent.parent.name
        found.append((machine, commit_dir.name, folder.name, folder))
    return found


def _fmt(value, unit="", digits=1):
    if value is None:
        return ""
    return f"{value:.{digits}f}{unit}"


def _summary_cells(records):
    stop = next((r for r in records if r.get("event") == "stop"), None)
    start = next((r for r in records if r.get("event") == "start"), {})
    notes = [r.get("message", "") for r in records if r.get("event") == "note"]
    if stop is None:
        notes.append("no stop record: the run ended before the sampler was stopped")
        return start, {}, {}, notes
    summary = stop.get("summary") or {}
    return start, summary.get("cpu") or {}, summary.get("gpu") or {}, notes


def draw_missing_plots(folder, copy):
    """Draw the plots of ``copy``, the published copy of the series in ``folder``, if it has none.

    They go back beside the series too, so that the next publish copies them instead of
    drawing them again (not where ``folder`` cannot be written to). Returns notes on what
    went wrong (a broken series gets a note on its row, not a failed publish).
    """
    if any(copy.glob("*.png")):
        return []
    notes = []
    try:
        plots = support_module("monitor_plots")
    except ImportError as err:
        return [f"no plots: {err}"]
    for png in plots.draw_plots_or_note(copy / EVENTS_FILE, notes):
        try:
            shutil.copy2(png, folder)
        except OSError:
            break  # read-only results: the next publish draws them again
    return notes


def _row(rel, folder, records, plot_notes=()):
    start, cpu, gpu, notes = _summary_cells(records)
    notes = notes + list(plot_notes)
    pngs = sorted(p.name for p in folder.glob("*.png"))
    thumb = next((t for t in THUMBNAILS if t in pngs), None)
    esc = html.escape
    cells = [
        f"<td><b>{esc(folder.name)}</b><br><small>{esc(str(start.get('model') or ''))}</small></td>",
        f"<td>{_fmt(cpu.get('cpu_percent_mean'))}</td>",
        f"<td>{_fmt((cpu.get('rss_peak') or 0) / 2**20 if cpu.get('rss_peak') else None)}</td>",
        f"<td>{_fmt(gpu.get('util_mean'))} / {_fmt(gpu.get('util_peak'))}</td>" if gpu
        else "<td>n/a</td>",
        f"<td>{_fmt((gpu.get('mem_used_peak') or 0) / 2**20 if gpu.get('mem_used_peak') else None)}"
        f"</td>" if gpu else "<td>n/a</td>",
    ]
    links = [f'<a href="{esc(rel)}/{quote(p)}">{esc(p[:-4].replace("_", " "))}</a>' for p in pngs]
    links.append(f'<a href="{esc(rel)}/{EVENTS_FILE}">{EVENTS_FILE}</a>')
    thumb_html = (f'<a href="{esc(rel)}/{esc(thumb)}"><img src="{esc(rel)}/{esc(thumb)}" '
                  f'width="240"></a><br>' if thumb else "")
    note_html = "".join(f'<div class="note">{esc(n)}</div>' for n in notes)
    cells.append(f"<td>{thumb_html}{' &middot; '.join(links)}{note_html}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pyhf-benchmarks: utilization time series</title><link rel="icon" href="data:,">
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; font-size: 90%; }}
.note {{ color: #a00; font-size: 85%; }}
</style></head><body>
<h1>Utilization time series</h1>
<p><a href="../index.html">back to the benchmarks</a>. One row per measured workload
(<code>bench_utilization</code>): process CPU % (100 = one core), peak RSS, GPU utilization
(mean / peak, %), peak GPU memory, and the plots over time.</p>
{body}
</body></html>
"""


def _add_link(index_html):
    """Put a link to the utilization pages on asv's index page (once)."""
    return asv_index.add_link(index_html, LINK_ID, f"{UTILIZATION_FOLDER}/index.html",
                              "Utilization time series", bottom=8)


def add_utilization_pages(results_dir, html_dir, monitor_dir=None, link=True):
    """Copy the time series into ``html_dir/utilization/`` and write its index.html.

    Reads ``results_dir`` and ``monitor_dir`` (default: $PYHF_BENCH_MONITOR_DIR).
    Returns the index page's path. Run it after ``asv publish``.
    """
    html_dir = Path(html_dir)
    dest_root = html_dir / UTILIZATION_FOLDER
    if dest_root.exists():
        shutil.rmtree(dest_root)
    dest_root.mkdir(parents=True)
    monitor_dir = monitor_dir or settings.monitor_dir()
    roots = [Path(results_dir)] + ([Path(monitor_dir)] if monitor_dir else [])
    series = {}
    for root in roots:
        for machine, commit, name, folder in find_series(root):
            series[(machine, commit, name)] = folder  # the monitor dir wins on a clash

    by_machine = {}
    for (machine, commit, name), folder in sorted(series.items()):
        by_machine.setdefault(machine, {}).setdefault(commit, []).append((name, folder))

    esc = html.escape
    parts = []
    if not by_machine:
        parts.append("<p>No time series yet: run <code>asv run --bench utilization</code>.</p>")
    for machine, commits in sorted(by_machine.items()):
        dates = resultslib.commit_dates(results_dir, machine)
        parts.append(f"<h2>Machine {esc(machine)}</h2>")

        def order(commit):
            return -(dates.get(commit) or 0), commit

        for commit in sorted(commits, key=order):
            date = dates.get(commit)
            when = (datetime.fromtimestamp(date / 1000, timezone.utc).strftime("%Y-%m-%d")
                    if date else "date unknown")
            parts.append(f"<h3>Commit <code>{esc(commit[:12])}</code> ({when})</h3>")
            parts.append("<table><tr><th>workload</th><th>CPU %</th><th>peak RSS (MiB)</th>"
                         "<th>GPU util %</th><th>peak GPU memory (MiB)</th><th>plots</th></tr>")
            for name, folder in sorted(commits[commit]):
                dest = dest_root / machine / commit / name
                shutil.copytree(folder, dest)
                plot_notes = draw_missing_plots(folder, dest)
                rel = "/".join(quote(part) for part in (machine, commit, name))
                parts.append(_row(rel, dest, _read_events(dest / EVENTS_FILE), plot_notes))
            parts.append("</table>")
    index = dest_root / "index.html"
    index.write_text(_PAGE.format(body="\n".join(parts)))
    if link:
        _add_link(html_dir / "index.html")
    return index
