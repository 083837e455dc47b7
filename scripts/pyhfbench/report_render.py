"""The backend report's documents (blocks rendered to HTML and Markdown) and its plots."""

import html as htmlmod
import re
from dataclasses import dataclass, field

from .results import FAILED, OK, SKIPPED, STATE_TEXT, state_of
from .report_data import (COLORS, EXTRA_COLORS, REFERENCE, SCALING_LABELS, SCALING_PARAMS,
                          column_label, ok_value, order_columns, slug, speedups, workload_label)


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
