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

``add_report_pages(results_dir, html_dir)`` is what the main job and the
nightly call after ``asv publish`` (which wipes ``html/``): it writes the
report to ``html/report/`` and links it from asv's index page (the offline
dashboard is dashboard_assets', called from dashboard.finish_dashboard).
"""

import html as htmlmod
import itertools
import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import asv_index
from . import results as resultslib
from .gate import display_unit
from .results import FAILED, OK, SKIPPED, STATE_TEXT, state_of
from .results import described_machines as machines
from .results import load_benchmarks_json as read_benchmarks_json
from .results import unrepr as _unquote

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT_FOLDER = "report"
LINK_ID = "pyhf-bench-report-link"
REFERENCE = ("numpy", "cpu")
BACKEND_ORDER = ("numpy", "jax", "pytorch", "tensorflow")
DEVICE_ORDER = ("cpu", "gpu")
#: Numeric parameters plotted as scaling curves first (others numeric ones follow).
SCALING_PARAMS = ("n_bins", "batch_size", "threads", "workers")
#: Tracked values (throughput, speedup) are plotted against parallelism only.
TRACK_SCALING_PARAMS = ("threads", "workers")
SCALING_LABELS = {
    "n_bins": "number of bins",
    "batch_size": "batch size (parameter points per call)",
    "threads": "BLAS / torch threads",
    "workers": "workers",
}
#: Packages in an asv environment's requirements that provide a backend.
BACKEND_PACKAGES = {
    "numpy": ("numpy",),
    "jax": ("jax", "jaxlib"),
    "pytorch": ("torch",),
    "tensorflow": ("tensorflow",),
}
COLORS = {"numpy": "#4C72B0", "jax": "#DD8452", "pytorch": "#C44E52", "tensorflow": "#55A868"}
EXTRA_COLORS = ("#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD")
#: Modules whose track_ values are machine utilization, not physics results.
UTILIZATION_MODULES = ("bench_utilization",)
#: Where scripts/profile stores profiles: <results_dir>/profiles/<commit>/<benchmark>/.
PROFILES_FOLDER = "profiles"
MAX_LIST = 40

class ReportError(RuntimeError):
    """No results to report on (unknown machine or commit)."""


# --------------------------------------------------------------------------- reading

def kind_of(name, info_type=None):
    """'time', 'track' or 'memory', from benchmarks.json's type or the method prefix."""
    if info_type in ("time", "track"):
        return info_type
    if info_type in ("peakmemory", "memory"):
        return "memory"
    prefix = name.rsplit(".", 1)[-1].split("_", 1)[0]
    return {"time": "time", "timeraw": "time", "track": "track", "peakmem": "memory",
            "mem": "memory"}.get(prefix, "track")


@dataclass
class Benchmark:
    """One benchmark's results at one commit: a value per parameter combination."""

    name: str
    kind: str
    unit: str
    param_names: list
    params: list  # list of lists of (unquoted) parameter values
    values: dict = field(default_factory=dict)  # combo -> float, NaN (n/a) or None (failed)
    spread: dict = field(default_factory=dict)  # combo -> (q25, q75)

    @property
    def module(self):
        return self.name.split(".", 1)[0]

    @property
    def short(self):
        return self.name.split(".", 1)[1] if "." in self.name else self.name

    def index(self, pname):
        return self.param_names.index(pname) if pname in self.param_names else None

    @property
    def has_backend(self):
        return self.index("backend") is not None

    def column(self, combo):
        """(backend, device) of a combination; device 'cpu' where the benchmark has none."""
        b, d = self.index("backend"), self.index("device")
        if b is None and d is None:
            return ("-", "-")
        return (combo[b] if b is not None else "-", combo[d] if d is not None else "cpu")

    def workload(self, combo, skip=()):
        """The other parameters as ((name, value), ...)."""
        drop = {"backend", "device", *skip}
        return tuple((n, v) for n, v in zip(self.param_names, combo) if n not in drop)

    def states(self):
        counts = {OK: 0, SKIPPED: 0, FAILED: 0}
        for value in self.values.values():
            counts[state_of(value)] += 1
        return counts


@dataclass
class CommitResults:
    machine: str
    commit: str
    date: int
    envs: list  # [(env name, python, requirements)]
    benchmarks: dict  # name -> Benchmark
    not_run: list  # names known to benchmarks.json without results at this commit
    commits: list  # [(commit, date)] with results on this machine, newest first
    machine_info: dict


def _better(old, new):
    """Which of two values of one combination (from two environments) to keep."""
    rank = {OK: 2, FAILED: 1, SKIPPED: 0}
    return new if rank[state_of(new)] > rank[state_of(old)] else old


def load_commit(results_dir, machine, commit=None):
    """The results of ``machine`` at ``commit`` (a hash or prefix; default: the latest).

    Every environment's results file for that commit is merged (measured wins
    over failed, failed over n/a).
    """
    results_dir = Path(results_dir)
    machine_info = resultslib.load_machine_info(results_dir, machine)
    if machine_info is None:
        raise ReportError(f"no results for machine {machine!r} in {results_dir}")
    # As asv's own reader does, a file it cannot read is left out.
    loaded = resultslib.load_machine(results_dir, machine, on_error=lambda *a: None)
    if not loaded:
        raise ReportError(f"machine {machine!r} has no results files in {results_dir}")
    dates = {}
    for result in loaded:
        dates[result.commit] = max(dates.get(result.commit) or 0, result.date or 0)
    commits = sorted(dates.items(), key=lambda item: (-(item[1] or 0), item[0]))
    if commit is None:
        chosen = commits[0][0]
    else:
        found = [c for c, _ in commits if c.startswith(commit)]
        if not found:
            raise ReportError(f"machine {machine!r} has no results at commit {commit!r}")
        if len(found) > 1:
            raise ReportError(f"commit prefix {commit!r} is ambiguous: {', '.join(found)}")
        chosen = found[0]

    infos = read_benchmarks_json(results_dir)
    benchmarks, envs = {}, []
    for result in (r for r in loaded if r.commit == chosen):
        envs.append((result.env_name, result.python, result.requirements))
        for name, params in result.params.items():
            info = infos.get(name, {})
            names = list(info.get("param_names") or [])
            if len(names) != len(params):
                names = [f"param{i + 1}" for i in range(len(params))]
            bench = benchmarks.get(name)
            if bench is None:
                bench = benchmarks[name] = Benchmark(
                    name=name, kind=kind_of(name, info.get("type")),
                    unit=display_unit(info.get("unit")) or ("seconds" if kind_of(name) == "time" else ""),
                    param_names=names, params=[[_unquote(v) for v in p] for p in params],
                )
            for reprs in itertools.product(*params) if params else [()]:
                measurement = result.get(name, reprs)
                combo = tuple(_unquote(v) for v in reprs)
                value = measurement.value if measurement else None
                bench.values[combo] = _better(bench.values[combo], value) \
                    if combo in bench.values else value
                st = measurement.stats if measurement else None
                if st and st.get("q_25") is not None and st.get("q_75") is not None \
                        and state_of(value) == OK:
                    bench.spread[combo] = (st["q_25"], st["q_75"])
    not_run = sorted(set(infos) - set(benchmarks))
    return CommitResults(machine=machine, commit=chosen, date=dates[chosen], envs=envs,
                         benchmarks=benchmarks, not_run=not_run, commits=commits,
                         machine_info=machine_info)


# --------------------------------------------------------------------------- numbers

def fmt_time(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"


def fmt_value(value, unit):
    state = state_of(value)
    if state != OK:
        return STATE_TEXT[state]
    if unit == "seconds":
        return fmt_time(value)
    if unit == "bytes":
        return f"{value / 2**20:.4g} MiB"
    text = f"{value:.6g}"
    return f"{text} {unit}" if unit and unit not in ("unit",) else text


def fmt_ratio(ratio):
    if ratio is None or not math.isfinite(ratio):
        return ""
    return f"{ratio:.3g}×"


def ok_value(value):
    return value if state_of(value) == OK else None


def column_label(column):
    backend, device = column
    if backend == "-":
        return "value" if device == "-" else device
    return f"{backend}/{device}"


def workload_label(workload):
    return ", ".join(f"{n}={v}" for n, v in workload) if workload else "(no parameters)"


def order_columns(columns):
    def key(col):
        b, d = col
        return (BACKEND_ORDER.index(b) if b in BACKEND_ORDER else len(BACKEND_ORDER), b,
                DEVICE_ORDER.index(d) if d in DEVICE_ORDER else len(DEVICE_ORDER), d)
    return sorted(set(columns), key=key)


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def table_of(bench):
    """{workload: {column: value}} and the ordered columns of a benchmark."""
    rows, columns = {}, []
    for combo, value in bench.values.items():
        col = bench.column(combo)
        columns.append(col)
        rows.setdefault(bench.workload(combo), {})[col] = value
    return rows, order_columns(columns)


def measured_columns(rows, columns):
    return [c for c in columns if any(state_of(r.get(c)) == OK for r in rows.values())]


def speedups(rows):
    """{workload: {column: t_ref / t}} where NumPy on the CPU was measured."""
    out = {}
    for workload, cells in rows.items():
        ref = ok_value(cells.get(REFERENCE))
        if ref:
            out[workload] = {c: ref / v for c, v in cells.items() if ok_value(v)}
    return out


def disagreement(cells):
    """(relative, absolute, outlier column, reference column) of one row of tracked values.

    The reference is NumPy on the CPU where measured, else the median value;
    relative is |v - ref| / max(|ref|, |v|). None with fewer than two values.
    """
    measured = {c: v for c, v in cells.items() if ok_value(v) is not None}
    if len(measured) < 2:
        return None
    if REFERENCE in measured:
        ref_col, ref = REFERENCE, measured[REFERENCE]
    else:
        ordered = sorted(measured.items(), key=lambda item: item[1])
        ref_col, ref = ordered[(len(ordered) - 1) // 2]
    worst = None
    for col, v in measured.items():
        if col == ref_col:
            continue
        absolute = abs(v - ref)
        scale = max(abs(ref), abs(v))
        relative = absolute / scale if scale > 0 else 0.0
        if worst is None or relative > worst[0]:
            worst = (relative, absolute, col, ref_col)
    return worst


def env_has_backend(envs, backend):
    """True/False where the environments' requirements say, None where unknown."""
    packages = BACKEND_PACKAGES.get(backend)
    if not packages or not envs:
        return None
    for _, _, reqs in envs:
        names = {re.split(r"[\[<>=]", k)[0].lower() for k in reqs}
        if any(p in names for p in packages):
            return True
    return False


def missing_reason(column, report, counts):
    """Why a backend/device has no measurement at this commit (best knowledge)."""
    backend, device = column
    if counts[OK]:
        if counts[FAILED]:
            return "partly failed: see the failures below"
        if counts[SKIPPED]:
            return "partly n/a: skipped combinations, or not selected in this run"
        return ""
    if backend == "numpy" and device == "gpu":
        return "NumPy runs on the CPU only"
    installed = env_has_backend(report.envs, backend)
    if installed is False:
        return (f"{backend} is not in this environment's requirements "
                f"({', '.join(BACKEND_PACKAGES[backend])} missing)")
    if device == "gpu":
        gpu_any = any(state_of(v) == OK for b in report.benchmarks.values()
                      for combo, v in b.values.items() if b.column(combo)[1] == "gpu")
        if not gpu_any:
            return "no GPU results on this machine (no GPU, or CPU-only builds of the libraries)"
    if counts[FAILED] and not counts[SKIPPED]:
        return "every run failed"
    return ("skipped at this commit: removed from pyhf, not importable, or not selected "
            "in this run (`asv run --show-stderr` prints the reason)")


# --------------------------------------------------------------------------- documents
# A report is a list of blocks, rendered to HTML and to Markdown alike.

@dataclass
class Table:
    header: list
    rows: list
    marked: set = field(default_factory=set)  # (row, col) cells to highlight
    numeric_from: int = 1  # columns from here (to numeric_to, exclusive) are right-aligned
    numeric_to: int = None

    def numeric(self, column):
        return column >= self.numeric_from and (self.numeric_to is None or column < self.numeric_to)


@dataclass
class Figure:
    png: str  # path relative to the report folder
    svg: str
    caption: str


def _inline_html(text):
    """Escape, then `code`, **bold** and [text](url)."""
    out = htmlmod.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)",
                 lambda m: f'<a href="{htmlmod.escape(m.group(2))}">{m.group(1)}</a>', out)
    return out


def _md_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_html(blocks):
    parts = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            _, level, text, anchor = block
            ident = f' id="{htmlmod.escape(anchor)}"' if anchor else ""
            parts.append(f"<h{level}{ident}>{_inline_html(text)}</h{level}>")
        elif kind == "p":
            parts.append(f"<p>{_inline_html(block[1])}</p>")
        elif kind == "note":
            parts.append(f'<p class="note">{_inline_html(block[1])}</p>')
        elif kind == "ul":
            items = "".join(f"<li>{_inline_html(i)}</li>" for i in block[1])
            parts.append(f"<ul>{items}</ul>")
        elif kind == "table":
            table = block[1]
            head = "".join(f"<th>{_inline_html(str(h))}</th>" for h in table.header)
            body = []
            for r, row in enumerate(table.rows):
                cells = []
                for c, cell in enumerate(row):
                    classes = []
                    if table.numeric(c):
                        classes.append("num")
                    if (r, c) in table.marked:
                        classes.append("worst")
                    text = str(cell)
                    if text in (STATE_TEXT[SKIPPED], STATE_TEXT[FAILED]):
                        classes.append("na" if text == STATE_TEXT[SKIPPED] else "failed")
                    attr = f' class="{" ".join(classes)}"' if classes else ""
                    cells.append(f"<td{attr}>{_inline_html(text)}</td>")
                body.append("<tr>" + "".join(cells) + "</tr>")
            parts.append(f'<table class="results"><thead><tr>{head}</tr></thead>'
                         f'<tbody>{"".join(body)}</tbody></table>')
        elif kind == "figure":
            fig = block[1]
            parts.append(
                f'<figure><a href="{htmlmod.escape(fig.png)}"><img src="{htmlmod.escape(fig.png)}" '
                f'alt="{htmlmod.escape(fig.caption)}"></a><figcaption>{_inline_html(fig.caption)} '
                f'(<a href="{htmlmod.escape(fig.svg)}">SVG</a>)</figcaption></figure>')
        elif kind == "thumbs":
            items = "".join(
                f'<a href="{htmlmod.escape(src)}"><img class="thumb" src="{htmlmod.escape(src)}" '
                f'alt="{htmlmod.escape(alt)}" title="{htmlmod.escape(alt)}"></a>'
                for src, alt in block[1])
            parts.append(f'<div class="thumbs">{items}</div>')
    return "\n".join(parts)


def render_markdown(blocks):
    parts = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            parts.append("#" * block[1] + " " + block[2])
        elif kind in ("p", "note"):
            parts.append(block[1] if kind == "p" else f"> {block[1]}")
        elif kind == "ul":
            parts.append("\n".join(f"- {i}" for i in block[1]))
        elif kind == "table":
            table = block[1]
            lines = ["| " + " | ".join(_md_cell(h) for h in table.header) + " |",
                     "| " + " | ".join("---:" if table.numeric(i) else "---"
                                       for i in range(len(table.header))) + " |"]
            for r, row in enumerate(table.rows):
                cells = [f"**{_md_cell(c)}**" if (r, i) in table.marked and str(c) else _md_cell(c)
                         for i, c in enumerate(row)]
                lines.append("| " + " | ".join(cells) + " |")
            parts.append("\n".join(lines))
        elif kind == "figure":
            fig = block[1]
            parts.append(f"![{fig.caption}]({fig.png})\n\n*{fig.caption}* ([SVG]({fig.svg}))")
        elif kind == "thumbs":
            parts.append(" ".join(f"[![{alt}]({src})]({src})" for src, alt in block[1]))
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- plots

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "figure.dpi": 100,
                         "svg.fonttype": "none"})
    return plt


def _color(column, index):
    backend = column[0]
    return COLORS.get(backend) or EXTRA_COLORS[index % len(EXTRA_COLORS)]


def _save(fig, img_dir, stem, rel_prefix, caption, figures):
    img_dir.mkdir(parents=True, exist_ok=True)
    png, svg = img_dir / f"{stem}.png", img_dir / f"{stem}.svg"
    fig.savefig(png, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    _pyplot().close(fig)
    figure = Figure(png=f"{rel_prefix}/{png.name}", svg=f"{rel_prefix}/{svg.name}",
                    caption=caption)
    figures.append(figure)
    return figure


def _wrap(text, width=22):
    words, lines, line = text.replace(", ", ",\n").split("\n"), [], ""
    for word in words:
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = word
        else:
            line += word
    lines.append(line)
    return "\n".join(lines)


def plot_comparison(bench, rows, columns, img_dir, rel_prefix, figures):
    """Grouped bars: time per backend/device per workload, and speedup relative to NumPy CPU."""
    plt = _pyplot()
    import numpy as np

    workloads = [w for w in rows if any(ok_value(rows[w].get(c)) for c in columns)]
    if not workloads:
        return None
    ups = speedups(rows)
    show_speedup = len(columns) > 1 and any(
        any(c != REFERENCE for c in ups.get(w, {})) for w in workloads)
    n_panels = 2 if show_speedup else 1
    width = min(18.0, max(6.0, 0.45 * len(workloads) * max(1, len(columns)) + 2.5))
    fig, axes = plt.subplots(n_panels, 1, figsize=(width, 3.6 * n_panels), squeeze=False)
    x = np.arange(len(workloads))
    bar = 0.8 / max(1, len(columns))
    labels = [_wrap(workload_label(w)) for w in workloads]
    for panel, ax in enumerate(axes[:, 0]):
        for i, col in enumerate(columns):
            if panel == 0:
                heights = [ok_value(rows[w].get(col)) for w in workloads]
            else:
                heights = [ups.get(w, {}).get(col) for w in workloads]
            pos = [x[j] + (i - (len(columns) - 1) / 2) * bar
                   for j, h in enumerate(heights) if h]
            vals = [h for h in heights if h]
            if not vals:
                continue
            ax.bar(pos, vals, bar * 0.95, label=column_label(col), color=_color(col, i),
                   hatch="//" if col[1] == "gpu" else None, edgecolor="white", linewidth=0.5)
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=30 if len(workloads) > 4 else 0,
                           ha="right" if len(workloads) > 4 else "center", fontsize=8)
        ax.grid(axis="y", which="both", alpha=0.3)
        if panel == 0:
            ax.set_ylabel("time per call (s)" if bench.unit == "seconds" else bench.unit)
            ax.set_title(f"{bench.short}: time per backend and device")
        else:
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_ylabel("speedup vs NumPy on CPU (×)")
            ax.set_title("speedup relative to NumPy on CPU (> 1: faster)")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    caption = (f"{bench.name}: time per call per backend and device"
               + (" and speedup relative to NumPy on CPU" if show_speedup else "")
               + " (log scale)")
    return _save(fig, img_dir, f"compare-{slug(bench.name)}", rel_prefix, caption, figures)


def plot_gpu_vs_cpu(entries, img_dir, rel_prefix, figures):
    """Horizontal bars of t_cpu / t_gpu per workload, one colour per backend."""
    plt = _pyplot()
    height = max(2.5, 0.32 * len(entries) + 1.2)
    fig, ax = plt.subplots(figsize=(9, height))
    labels = [f"{short} [{workload_label(w)}] {backend}" for short, w, backend, _ in entries]
    ratios = [r for *_, r in entries]
    colors = [COLORS.get(backend, EXTRA_COLORS[0]) for _, _, backend, _ in entries]
    ax.barh(range(len(entries)), ratios, color=colors)
    ax.set_yticks(range(len(entries)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("GPU speedup: time on CPU / time on GPU (×, log scale; > 1: GPU faster)")
    ax.set_title("GPU versus CPU, per backend")
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    return _save(fig, img_dir, "gpu-vs-cpu", rel_prefix,
                 "GPU versus CPU: time on CPU divided by time on GPU, per backend", figures)


def scaling_params(bench):
    """Numeric parameters with at least two measured values, preferred names first."""
    found = []
    for i, pname in enumerate(bench.param_names):
        if pname in ("backend", "device"):
            continue
        try:
            numbers = {float(v) for v in bench.params[i]}
        except ValueError:
            continue
        measured = {combo[i] for combo, v in bench.values.items() if state_of(v) == OK}
        if len(numbers) >= 2 and len(measured) >= 2:
            found.append(pname)
    return sorted(found, key=lambda p: (SCALING_PARAMS.index(p) if p in SCALING_PARAMS
                                        else len(SCALING_PARAMS), p))


def plot_scaling(bench, pname, img_dir, rel_prefix, figures):
    plt = _pyplot()
    i = bench.index(pname)
    lines = {}
    for combo, value in bench.values.items():
        if state_of(value) != OK:
            continue
        key = (bench.column(combo), bench.workload(combo, skip=(pname,)))
        lines.setdefault(key, []).append((float(combo[i]), value, bench.spread.get(combo)))
    lines = {k: sorted(v) for k, v in lines.items()}
    if not any(len(v) >= 2 for v in lines.values()):
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    styles = ["-", "--", ":", "-."]
    rest_keys = sorted({rest for _, rest in lines})
    for n, ((col, rest), points) in enumerate(sorted(lines.items(), key=lambda kv: (
            order_columns([kv[0][0]]), kv[0][1]))):
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        if col == ("-", "-"):
            label = workload_label(rest) if rest else bench.short
        else:
            label = column_label(col) + (f" ({workload_label(rest)})" if rest else "")
        style = styles[rest_keys.index(rest) % len(styles)]
        ax.plot(xs, ys, style, marker="o", color=_color(col, n), label=label,
                markerfacecolor="white" if col[1] == "gpu" else None)
        spread = [(p[0], p[2]) for p in points if p[2]]
        if spread:
            ax.vlines([s[0] for s in spread], [s[1][0] for s in spread],
                      [s[1][1] for s in spread], color=_color(col, n), alpha=0.5)
    xs_all = [p[0] for pts in lines.values() for p in pts]
    if min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 10:
        ax.set_xscale("log")
    elif all(x == int(x) for x in xs_all):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ys_all = [p[1] for pts in lines.values() for p in pts]
    timing = bench.kind == "time"
    if timing or (min(ys_all) > 0 and max(ys_all) / min(ys_all) >= 10):
        ax.set_yscale("log")
    what = "time" if timing else (bench.short.rsplit(".", 1)[-1].removeprefix("track_")
                                  .replace("_", " "))
    ax.set_xlabel(SCALING_LABELS.get(pname, pname))
    ax.set_ylabel("time per call (s)" if bench.unit == "seconds"
                  else f"{what} ({bench.unit})" if bench.unit else what)
    ax.set_title(f"{bench.short}: {what} versus {pname}")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return _save(fig, img_dir, f"scaling-{slug(bench.name)}-{slug(pname)}", rel_prefix,
                 f"{bench.name}: {what} versus {pname}"
                 + (" (log scale; bars: interquartile range)" if timing else ""),
                 figures)


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


def comparison_section(report, anchor, img_dir, rel, figures):
    blocks = [("h", 3, "Backends and devices: time per call, speedup relative to NumPy on CPU",
               f"{anchor}-comparison"),
              ("p", "Each cell: time per call (asv's median) and, in parentheses, the speedup "
                    "relative to NumPy on the CPU for the same workload "
                    "(t(numpy/cpu) / t; above 1 is faster). n/a: skipped; failed: no value.")]
    found = False
    for name in sorted(report.benchmarks):
        bench = report.benchmarks[name]
        if bench.kind != "time" or not bench.has_backend:
            continue
        rows, columns = table_of(bench)
        shown = measured_columns(rows, columns)
        if not shown:
            continue
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


def load_findings(regressions, commit):
    """The gate's findings and information at ``commit``, keyed by (benchmark, combination).

    ``regressions``: the gate's ``regressions.json`` (a path or its loaded dict), or None.
    Returns None without one (or when it cannot be read)."""
    if regressions is None:
        return None
    try:
        data = regressions if isinstance(regressions, dict) else json.loads(
            Path(regressions).read_text())
    except (OSError, ValueError):
        return None
    found = {}
    for f in data.get("findings", []) + data.get("info", []):
        if f.get("commit") == commit and f.get("benchmark"):
            key = (f["benchmark"], tuple(_unquote(p) for p in f.get("param_reprs") or []))
            found.setdefault(key, []).append(f)
    return found


def lane_verdict(findings):
    """What one lane said about one benchmark combination, from the gate's findings."""
    said = []
    for f in findings or []:
        kind, ratio, conf = f["kind"], f.get("ratio") or float("nan"), f.get("confirmation") or {}
        if kind in ("more_instructions", "fewer_instructions"):
            said.append(f"{'**flagged**' if kind == 'more_instructions' else 'fewer'}: "
                        f"{ratio - 1:+.2%} instructions")
        elif kind in ("slower", "unconfirmed"):
            if conf.get("method") == "paired":
                how = (f"paired {conf['clock']} time x{conf['ratio']:.3f} "
                       f"[{conf['ci_low']:.3f}, {conf['ci_high']:.3f}]")
            elif conf:
                how = f"asv's interleaved rounds x{conf.get('ratio') or float('nan'):.2f}"
            else:
                how = "the wall-time rule"
            said.append(f"**flagged** x{ratio:.2f}, {'confirmed by ' if conf else 'by '}{how}"
                        if kind == "slower" else f"candidate x{ratio:.2f}, not confirmed: {how}")
        elif kind == "faster":
            said.append(f"faster x{ratio:.2f}")
    return "; ".join(said) or "—"


def lanes_section(report, anchor, findings=None):
    """Per counted workload: instructions, the matching time, and which lane flagged what."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.support.instruction_workloads import WORKLOADS

    blocks = [("h", 3, "Instructions and time per workload", f"{anchor}-lanes")]
    rows, not_counted = [], 0
    for name in sorted(n for n in report.benchmarks if n.endswith(".track_instructions")):
        bench = report.benchmarks[name]
        for combo, value in bench.values.items():
            key = (name, combo)
            if state_of(value) == SKIPPED and not (findings or {}).get(key):
                not_counted += 1
                continue
            column, workload = bench.column(combo), dict(zip(bench.param_names, combo))
            time_name, extra = WORKLOADS.get(workload.get("workload"), (None, ()))
            time_combo = (*column, *map(str, extra))
            time_bench = report.benchmarks.get(time_name)
            time_value = time_bench.values.get(time_combo) if time_bench else None
            rows.append([workload.get("workload", workload_label(bench.workload(combo))),
                         column_label(column),
                         f"{value:,.0f}" if state_of(value) == OK else STATE_TEXT[state_of(value)],
                         fmt_value(time_value, "seconds") if time_bench else "not run",
                         f"`{time_name.rsplit('.', 1)[-1]}`" if time_name else "",
                         lane_verdict((findings or {}).get(key)),
                         lane_verdict((findings or {}).get((time_name, time_combo)))])
    if not rows:
        blocks.append(("p", "No instruction counts at this commit (`bench_instructions`)."))
        return blocks
    blocks.append(("p", "The gate's two lanes for small regressions (docs/gate-lanes.md): the "
                        "instruction count of each workload's call under callgrind, and the "
                        "time of the same call (asv's median; the benchmark named) with what "
                        "the gate's time lane said (paired confirmation, or its wall-time rule)."
                        + ("" if findings is not None else " No gate report was given "
                           "(`scripts/report --regressions regressions.json`): the lane "
                           "columns are empty.")
                        + (f" {not_counted} n/a combinations (JAX, not selected) are left out."
                           if not_counted else "")))
    blocks.append(("table", Table(["workload", "backend/device", "instructions", "time",
                                   "time benchmark", "instruction lane", "time lane"],
                                  rows, numeric_from=2, numeric_to=4)))
    return blocks


def memory_section(report, anchor):
    blocks = []
    for name in sorted(report.benchmarks):
        bench = report.benchmarks[name]
        if bench.kind != "memory" or not bench.has_backend:
            continue
        rows, columns = table_of(bench)
        shown = measured_columns(rows, columns)
        if not shown:
            continue
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
    monitor = os.environ.get("PYHF_BENCH_MONITOR_DIR")
    if monitor:
        roots.append(Path(monitor))
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
    for env, python, reqs in report.envs:
        req_text = ", ".join(f"{k} {v}".strip() for k, v in sorted(reqs.items())) or "none"
        blocks.append(("p", f"Environment `{env}` (Python {python}): {req_text}."))
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
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    wanted = [machine] if isinstance(machine, str) else list(machine or machines(results_dir))
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
    result = build_report(results_dir, out_dir, machine=args.machine, commit=args.commit,
                          html_dir=html_dir, regressions=args.regressions)
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
