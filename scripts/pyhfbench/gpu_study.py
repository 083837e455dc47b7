"""The GPU study's page: plots and tables of ``bench_gpu_study`` from stored asv results.

Per commit, backend and device of a machine: throughput, GPU utilization and
memory-controller busy % against batch size (32b and 64b), and FP64/FP32
throughput. Writes ``<out>/gpu-study.md`` and PNGs beside it. Only what the
results hold is shown: a point that was skipped or failed is left out of the
plots and shown as such in the table.
"""

import math
from pathlib import Path

from . import results as resultslib

PREFIX = "bench_gpu_study."
FIGURES = {  # benchmark -> (column title, axis label)
    "bench_gpu_study.BatchScaling.track_throughput": ("throughput (points/s)", "points/s"),
    "bench_gpu_study.BatchScaling.track_gpu_utilization": ("GPU util (%)", "GPU utilization (%)"),
    "bench_gpu_study.BatchScaling.track_gpu_memory_busy": ("mem busy (%)", "memory-controller busy (%)"),
}
RATIO = "bench_gpu_study.PrecisionRatio.track_fp64_over_fp32_throughput"


def study_rows(results_dir, machine, commits=None):
    """{(commit, backend, device): {"points": {(precision, batch): {benchmark: value}},
    "ratio": {batch: value}}}; values are floats, or the state ("skipped"/"failed")."""
    table = {}
    for stored in resultslib.load_machine(results_dir, machine):
        if commits and not any(stored.commit.startswith(c) for c in commits):
            continue
        for (benchmark, params), measurement in stored.measurements.items():
            if not benchmark.startswith(PREFIX):
                continue
            params = [resultslib.unrepr(p) for p in params]
            value = measurement.value if measurement.state == resultslib.OK else measurement.state
            key = (stored.commit, params[0], params[1])
            if benchmark == RATIO:
                table.setdefault(key, {"points": {}, "ratio": {}})["ratio"][int(params[2])] = value
            elif benchmark in FIGURES:
                point = table.setdefault(key, {"points": {}, "ratio": {}})["points"].setdefault(
                    (params[2], int(params[3])), {})
                point[benchmark] = value
    # Keep only combinations with at least one measured figure.
    return {key: rows for key, rows in table.items()
            if any(isinstance(v, float) for p in rows["points"].values() for v in p.values())
            or any(isinstance(v, float) for v in rows["ratio"].values())}


def _format(value):
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.3e}"
    return {"skipped": "n/a", "failed": "failed"}.get(value, "") if value else ""


def draw(rows, key, out_dir):
    """One PNG per (commit, backend, device): the three figures against batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    commit, backend, device = key
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for axis, (benchmark, (_, label)) in zip(axes, FIGURES.items()):
        for precision in ("32b", "64b"):
            points = sorted((batch, figures.get(benchmark)) for (p, batch), figures
                            in rows["points"].items() if p == precision)
            points = [(b, v) for b, v in points if isinstance(v, float) and not math.isnan(v)]
            if points:
                axis.plot(*zip(*points), marker="o", label=precision)
        axis.set_xscale("log")
        if benchmark.endswith("throughput"):
            axis.set_yscale("log")
        axis.set_xlabel("batch size")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        if axis.has_data():
            axis.legend()
        else:
            axis.text(0.5, 0.5, "not measured here", ha="center", transform=axis.transAxes)
    fig.suptitle(f"batched logpdf, pyhf {commit[:8]}, {backend} on {device}")
    fig.tight_layout()
    path = Path(out_dir) / f"gpu-study-{commit[:8]}-{backend}-{device}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_page(results_dir, machine, out_dir, commits=None, labels=None, title=None, header=""):
    """Write ``gpu-study.md`` and its plots into ``out_dir``; return the page's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = study_rows(results_dir, machine, commits)
    labels = labels or {}
    lines = [f"# {title or 'GPU study: batched logpdf against batch size'}", "",
             f"Machine `{machine}`; results in `{results_dir}`.", ""]
    if header:
        lines += [header, ""]
    if not table:
        lines += ["No measured results of `bench_gpu_study` for this machine.", ""]
    for key in sorted(table):
        commit, backend, device = key
        rows = table[key]
        label = labels.get(commit, "")
        lines += [f"## pyhf {commit[:8]}{f' ({label})' if label else ''}: {backend} on {device}", ""]
        plot = draw(rows, key, out_dir)
        lines += [f"![{backend} on {device}]({plot.name})", ""]
        head = ["precision", "batch size"] + [title for title, _ in FIGURES.values()]
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for (precision, batch), figures in sorted(rows["points"].items()):
            cells = [precision, str(batch)] + [_format(figures.get(b)) for b in FIGURES]
            lines.append("| " + " | ".join(cells) + " |")
        if rows["ratio"]:
            lines += ["", "| batch size | FP64/FP32 throughput |", "| --- | --- |"]
            lines += [f"| {batch} | {_format(value)} |" for batch, value in sorted(rows["ratio"].items())]
        lines.append("")
    page = out_dir / "gpu-study.md"
    page.write_text("\n".join(lines))
    return page
