"""The backend report's sections per machine: coverage, comparison, GPU, scaling, tracked
results, memory, utilization, profiles."""

import shutil
from datetime import datetime, timezone
from pathlib import Path

from . import results as resultslib
from .results import FAILED, OK, SKIPPED, state_of
from .report_data import (BACKEND_ORDER, MAX_LIST, PROFILES_FOLDER, TRACK_SCALING_PARAMS,
                          UTILIZATION_MODULES, column_label, disagreement, fmt_ratio, fmt_time,
                          fmt_value, measured_columns, missing_reason, ok_value, order_columns,
                          slug, speedups, table_of, workload_label)
from .report_render import Table, plot_comparison, plot_gpu_vs_cpu, plot_scaling, scaling_params
from .support import settings


# --------------------------------------------------------------------------- sections

def _date(ms):
    if not ms:
        return "date unknown"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _graph_link(name):
    return f"../index.html#{name}"


def _limited(names, limit=MAX_LIST):
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def stack_blocks(report, limit=MAX_LIST):
    """Which stack this report describes, and the stack of every commit measured here."""
    blocks = []
    for env, record in report.stacks or []:
        text = record.describe() if record else "not recorded (measured before stacks were"\
            " recorded, or by a plain asv run)"
        blocks.append(("p", f"**Stack** (read inside the environment `{env}`): {text}."))
    for record in report.other_stacks or []:
        blocks.append(("p", f"This commit was also measured in another stack ({record.describe()}): "
                            "see the regressions page's upstream findings."))
    history = report.stack_history or []
    if history:
        names = list(resultslib.SHOWN_PACKAGES)
        rows = [[f"`{commit[:8]}`", _date(date), record.python,
                 *[record.version(n) or "—" for n in names]]
                for commit, date, record in history[:limit]]
        blocks.append(("p", "The stack of each commit's results on this machine, newest first:"))
        blocks.append(("table", Table(["commit", "date", "Python", *names], rows,
                                      numeric_from=len(names) + 3)))
    return blocks


def coverage_section(report, anchor):
    blocks = [("h", 3, "What was measured, and what is missing", f"{anchor}-coverage")]
    total = {OK: 0, SKIPPED: 0, FAILED: 0}
    rows = []
    for name in sorted(report.benchmarks):
        counts = report.benchmarks[name].states()
        for k in total:
            total[k] += counts[k]
        rows.append([f"[{name}]({_graph_link(name)})", counts[OK], counts[SKIPPED], counts[FAILED]])
    rows.append(["**all**", total[OK], total[SKIPPED], total[FAILED]])
    blocks.append(("p", f"{total[OK]} measured, {total[SKIPPED]} n/a (skipped), "
                        f"{total[FAILED]} failed parameter combinations in "
                        f"{len(report.benchmarks)} benchmarks. n/a is a skip: the backend is "
                        "missing at this commit or in the environment, the device is absent, "
                        "or the combination was not selected in this run."))
    blocks.append(("table", Table(["benchmark", "measured", "n/a", "failed"], rows)))

    by_column = {}
    for bench in report.benchmarks.values():
        for combo, value in bench.values.items():
            col = bench.column(combo)
            counts = by_column.setdefault(col, {OK: 0, SKIPPED: 0, FAILED: 0})
            counts[state_of(value)] += 1
    crow = []
    for col in order_columns(by_column):
        counts = by_column[col]
        crow.append([column_label(col), counts[OK], counts[SKIPPED], counts[FAILED],
                     missing_reason(col, report, counts)])
    blocks.append(("p", "Per backend and device:"))
    blocks.append(("table", Table(["backend/device", "measured", "n/a", "failed", "why missing"],
                                  crow, numeric_from=1, numeric_to=4)))
    failures = [f"`{b.name}` ({workload_label(tuple(zip(b.param_names, combo)))})"
                for b in report.benchmarks.values() for combo, v in b.values.items()
                if state_of(v) == FAILED]
    if failures:
        blocks.append(("p", f"**{len(failures)} failed** (asv recorded no value; "
                            "`asv run --show-stderr` gives the traceback):"))
        blocks.append(("ul", failures[:MAX_LIST] + (
            [f"and {len(failures) - MAX_LIST} more"] if len(failures) > MAX_LIST else [])))
    else:
        blocks.append(("p", "No failures."))
    if report.not_run:
        blocks.append(("p", f"{len(report.not_run)} benchmarks of the suite have no results "
                            f"at this commit (not selected, or not run yet): "
                            f"{_limited(report.not_run)}."))
    return blocks, total


def _backend_tables(report, kind):
    """(name, benchmark, rows, columns, measured columns) of each ``kind`` benchmark with a
    backend parameter and at least one measured column, by name."""
    for name in sorted(report.benchmarks):
        bench = report.benchmarks[name]
        if bench.kind != kind or not bench.has_backend:
            continue
        rows, columns = table_of(bench)
        shown = measured_columns(rows, columns)
        if shown:
            yield name, bench, rows, columns, shown


def comparison_section(report, anchor, img_dir, rel, figures):
    blocks = [("h", 3, "Backends and devices: time per call, speedup relative to NumPy on CPU",
               f"{anchor}-comparison"),
              ("p", "Each cell: time per call (asv's median) and, in parentheses, the speedup "
                    "relative to NumPy on the CPU for the same workload "
                    "(t(numpy/cpu) / t; above 1 is faster). n/a: skipped; failed: no value.")]
    found = False
    for name, bench, rows, columns, shown in _backend_tables(report, "time"):
        found = True
        ups = speedups(rows)
        table_rows = []
        for workload, cells in rows.items():
            row = [workload_label(workload)]
            for col in shown:
                text = fmt_value(cells.get(col), bench.unit)
                ratio = ups.get(workload, {}).get(col)
                if ratio is not None and len(shown) > 1:
                    text += f" ({fmt_ratio(ratio)})"
                row.append(text)
            table_rows.append(row)
        missing = [column_label(c) for c in columns if c not in shown]
        blocks.append(("h", 4, f"{name}", None))
        blocks.append(("table", Table(["workload"] + [column_label(c) for c in shown],
                                      table_rows)))
        if missing:
            blocks.append(("note", f"No measurement on {', '.join(missing)}."))
        figure = plot_comparison(bench, rows, shown, img_dir, rel, figures)
        if figure:
            blocks.append(("figure", figure))
    if not found:
        blocks.append(("p", "No timing results at this commit."))
    return blocks


def gpu_section(report, anchor, img_dir, rel, figures):
    blocks = [("h", 3, "GPU versus CPU, per backend", f"{anchor}-gpu")]
    entries, rows = [], []
    for name in sorted(report.benchmarks):
        bench = report.benchmarks[name]
        if bench.kind != "time" or not bench.has_backend:
            continue
        table, _ = table_of(bench)
        for workload, cells in table.items():
            others = tuple(sorted({c[0] for c in cells} - set(BACKEND_ORDER)))
            for backend in BACKEND_ORDER + others:
                cpu = ok_value(cells.get((backend, "cpu")))
                gpu = ok_value(cells.get((backend, "gpu")))
                if cpu and gpu:
                    entries.append((bench.short, workload, backend, cpu / gpu))
                    rows.append([name, workload_label(workload), backend, fmt_time(cpu),
                                 fmt_time(gpu), fmt_ratio(cpu / gpu)])
    if not entries:
        gpu_states = {OK: 0, SKIPPED: 0, FAILED: 0}
        for bench in report.benchmarks.values():
            for combo, value in bench.values.items():
                if bench.column(combo)[1] == "gpu":
                    gpu_states[state_of(value)] += 1
        blocks.append(("p", "No backend was measured on both CPU and GPU at this commit on "
                            f"this machine ({gpu_states[SKIPPED]} GPU combinations n/a, "
                            f"{gpu_states[FAILED]} failed): the machine has no GPU, or the "
                            "environment has CPU-only builds (use `scripts/asvconf --matrix "
                            "cuda` on a GPU host)."))
        return blocks
    blocks.append(("p", "GPU speedup = time on CPU / time on GPU for the same backend and "
                        "workload (above 1: the GPU is faster)."))
    blocks.append(("table", Table(["benchmark", "workload", "backend", "CPU", "GPU",
                                   "GPU speedup"], rows, numeric_from=3)))
    blocks.append(("figure", plot_gpu_vs_cpu(entries, img_dir, rel, figures)))
    return blocks


def scaling_section(report, anchor, img_dir, rel, figures):
    blocks = [("h", 3, "Scaling: time versus bins, batch size, threads, workers",
               f"{anchor}-scaling")]
    found = False
    for name in sorted(report.benchmarks):
        bench = report.benchmarks[name]
        if bench.kind not in ("time", "track") or bench.module in UTILIZATION_MODULES:
            continue
        for pname in scaling_params(bench):
            if bench.kind == "track" and pname not in TRACK_SCALING_PARAMS:
                continue  # throughput versus workers, say; not CLs versus bins
            figure = plot_scaling(bench, pname, img_dir, rel, figures)
            if figure:
                found = True
                blocks.append(("figure", figure))
    if not found:
        blocks.append(("p", "No parametrized timing with two or more measured values of a "
                            "numeric parameter at this commit."))
    return blocks


def tracked_section(report, anchor):
    blocks = [("h", 3, "Tracked results side by side", f"{anchor}-tracked"),
              ("p", "The values the benchmarks track (CLs, twice the NLL, differences to "
                    "reference implementations...) per backend and device. In each row the "
                    "value farthest from NumPy on the CPU (or from the median, where NumPy "
                    "was not measured) is highlighted when the backends disagree; the row "
                    "with the largest disagreement of each benchmark is listed first below.")]
    summary, detail = [], []
    for name in sorted(report.benchmarks):
        bench = report.benchmarks[name]
        if bench.kind != "track" or bench.module in UTILIZATION_MODULES:
            continue
        rows, columns = table_of(bench)
        shown = measured_columns(rows, columns)
        if not shown:
            continue
        table_rows, marked, worst = [], set(), None
        for r, (workload, cells) in enumerate(rows.items()):
            table_rows.append([workload_label(workload)]
                              + [fmt_value(cells.get(c), bench.unit) for c in shown])
            d = disagreement(cells)
            if d and d[1] > 0:
                marked.add((r, 1 + shown.index(d[2])))
                if worst is None or d[0] > worst[0][0]:
                    worst = (d, workload)
        if worst:
            (rel_d, abs_d, col, ref_col), workload = worst
            summary.append([name, workload_label(workload),
                            f"{column_label(col)} vs {column_label(ref_col)}",
                            f"{rel_d:.3g}", f"{abs_d:.3g}"])
        else:
            summary.append([name, "", "no backend parameter" if not bench.has_backend
                            else "only one backend measured" if len(shown) < 2
                            else "all agree exactly", "", ""])
        detail.append(("h", 4, name, None))
        detail.append(("table", Table(["workload"] + [column_label(c) for c in shown],
                                      table_rows, marked)))
    if not summary:
        blocks.append(("p", "No tracked results at this commit."))
        return blocks
    order = sorted(range(len(summary)),
                   key=lambda i: -float(summary[i][3]) if summary[i][3] else 1.0)
    summary = [summary[i] for i in order]
    marked = {(0, 3)} if summary and summary[0][3] else set()
    blocks.append(("p", "Largest disagreement between backends, per tracked benchmark "
                        "(relative: |a - b| / max(|a|, |b|)):"))
    blocks.append(("table", Table(["benchmark", "where", "backends", "relative", "absolute"],
                                  summary, marked, numeric_from=3)))
    return blocks + detail


def memory_section(report, anchor):
    blocks = []
    for name, bench, rows, _, shown in _backend_tables(report, "memory"):
        blocks.append(("h", 4, name, None))
        blocks.append(("table", Table(
            ["workload"] + [column_label(c) for c in shown],
            [[workload_label(w)] + [fmt_value(cells.get(c), bench.unit) for c in shown]
             for w, cells in rows.items()])))
    if blocks:
        blocks.insert(0, ("h", 3, "Peak memory", f"{anchor}-memory"))
    return blocks


def _utilization_roots(results_dir):
    roots = [Path(results_dir)]
    monitor = settings.monitor_dir()
    if monitor:
        roots.append(monitor)
    return roots


def utilization_section(report, results_dir, html_dir, anchor, out_dir, rel_root):
    blocks = [("h", 3, "Utilization", f"{anchor}-utilization")]
    rows = []
    for name in sorted(report.benchmarks):
        bench = report.benchmarks[name]
        if bench.module not in UTILIZATION_MODULES or bench.kind != "track":
            continue
        for combo, value in bench.values.items():
            if state_of(value) == OK:
                rows.append([bench.short, workload_label(tuple(zip(bench.param_names, combo))),
                             fmt_value(value, bench.unit)])
    if rows:
        blocks.append(("table", Table(["measurement", "parameters", "value"], rows,
                                      numeric_from=2)))
    thumbs = []
    for root in _utilization_roots(results_dir):
        series_root = root / report.machine / "utilization" / report.commit
        if not series_root.is_dir():
            continue
        for png in sorted(series_root.glob("*/*.png")):
            dest = out_dir / "utilization" / slug(report.machine) / report.commit[:8] \
                / png.parent.name / png.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(png, dest)
            thumbs.append((dest.relative_to(out_dir).as_posix(),
                           f"{png.parent.name}: {png.stem.replace('_', ' ')}"))
    if thumbs:
        blocks.append(("thumbs", thumbs))
    if html_dir and (Path(html_dir) / "utilization" / "index.html").is_file():
        blocks.append(("p", "All time series: [utilization pages](../utilization/index.html)."))
    if not rows and not thumbs:
        blocks.append(("p", "No utilization results at this commit (run "
                            "`asv run --bench bench_utilization`)."))
    return blocks


def profiles_of(results_dir, commit):
    """Profile folders of ``scripts/profile`` at ``commit``: [(label, folder)]."""
    root = Path(results_dir) / PROFILES_FOLDER / commit
    if not root.is_dir():
        return []
    return [(p.name, p) for p in sorted(root.iterdir()) if (p / "summary.md").is_file()]


def profiles_section(report, results_dir, anchor, out_dir):
    found = profiles_of(results_dir, report.commit)
    if not found:
        return [("h", 3, "Profiles", f"{anchor}-profiles"),
                ("p", "No profiles at this commit: `scripts/profile BENCHMARK "
                      f"{report.commit[:8]}` makes one.")]
    items = []
    for label, folder in found:
        dest = out_dir / "profiles" / report.commit[:8] / label
        dest.mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            if f.is_file() and f.suffix in (".md", ".txt", ".png", ".svg", ".prof"):
                shutil.copy2(f, dest / f.name)
        rel = dest.relative_to(out_dir).as_posix()
        headline = ""
        summary = (folder / "summary.md").read_text().splitlines()
        for line in summary:
            if line.startswith("Total profiled time"):
                headline = " " + line.strip()
                break
        items.append(f"[{label}]({rel}/summary.md) ([top functions]({rel}/profile.txt), "
                     f"[cProfile data]({rel}/profile.prof)).{headline}")
    return [("h", 3, "Profiles", f"{anchor}-profiles"), ("ul", items)]
