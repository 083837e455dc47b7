"""Utilization-over-time plots of a sampler's events.jsonl (as pyhf-benchmark drew them).

matplotlib is imported only when a plot is drawn: minimal asv environments
may lack it, and then ``draw_plots`` raises ImportError for the caller to
note. One PNG per quantity: CPU_Utilization.png, Memory_Utilization.png,
Disk_IO_Utilization.png, Network_Traffic.png and, where GPUs were sampled,
GPU_Utilization.png, GPU_Memory_Utilization.png, GPU_Memory_Used.png,
GPU_Temperature.png, GPU_Power.png, GPU_SM_Clock.png.
"""

from pathlib import Path

from .monitor import MIB, read_events

#: (file name, title, y label, [(series label, getter)]) of the CPU-side plots.
_CPU_PLOTS = (
    ("CPU_Utilization.png", "CPU utilization", "CPU % (100 = one core)", (
        ("process (and children)", lambda c: c.get("cpu_percent")),
        ("system (all cores)", lambda c: c.get("system_cpu_percent")),
    )),
    ("Memory_Utilization.png", "Memory", "MiB", (
        ("process RSS", lambda c: _mib(c.get("rss"))),
        ("system used", lambda c: _mib(c.get("system_memory_used"))),
    )),
    ("Disk_IO_Utilization.png", "Disk I/O since start", "MiB", (
        ("system read", lambda c: _mib(c.get("disk_read"))),
        ("system written", lambda c: _mib(c.get("disk_write"))),
        ("process read", lambda c: _mib(c.get("proc_read"))),
        ("process written", lambda c: _mib(c.get("proc_write"))),
    )),
    ("Network_Traffic.png", "Network traffic since start", "MiB", (
        ("sent", lambda c: _mib(c.get("net_sent"))),
        ("received", lambda c: _mib(c.get("net_recv"))),
    )),
)

#: (file name, title, y label, [(series suffix, key, scale)]) of the per-GPU plots.
_GPU_PLOTS = (
    ("GPU_Utilization.png", "GPU utilization", "%", (
        ("", "util", None), (" this process (SM)", "proc_sm", None))),
    ("GPU_Memory_Utilization.png", "GPU memory controller busy", "%", (
        ("", "mem_busy", None), (" this process", "proc_mem_busy", None))),
    ("GPU_Memory_Used.png", "GPU memory used", "MiB", (
        ("", "mem_used", MIB), (" this process", "proc_mem", MIB))),
    ("GPU_Temperature.png", "GPU temperature", "degrees C", (("", "temperature", None),)),
    ("GPU_Power.png", "GPU power", "W", (("", "power_w", None),)),
    ("GPU_SM_Clock.png", "GPU SM clock", "MHz", (("", "sm_clock_mhz", None),)),
)


def _mib(value):
    return None if value is None else value / MIB


def _title(start, title):
    parts = [start.get(key) for key in ("workload", "backend", "device") if start.get(key)]
    params = start.get("params")
    if params:
        parts.append(" ".join(str(p) for p in params))
    text = f"{title}: {', '.join(str(p) for p in parts)}" if parts else title
    return text if len(text) <= 90 else text[:87] + "..."


def _figure(plt, start, title, ylabel, notes):
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.set_title(_title(start, title), fontsize=10)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel(ylabel)
    for t, message in notes:
        if t is not None:
            ax.axvline(t, color="red", linestyle=":", linewidth=1)
            ax.annotate(message[:60], (t, 0), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=6, color="red", va="bottom")
    return fig, ax


def _save(plt, fig, ax, path, drew):
    if drew:
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def draw_plots_or_note(events_path, notes, out_dir=None):
    """``draw_plots``, or none and a note in ``notes`` on why (no matplotlib, a broken series)."""
    try:
        return draw_plots(events_path, out_dir)
    except ImportError as err:
        notes.append(f"no plots: {err}")
    except Exception as err:
        notes.append(f"plots failed: {type(err).__name__}: {err}")
    return []


def draw_plots(events_path, out_dir=None):
    """Draw the PNGs for ``events_path`` into ``out_dir`` (default: beside it); return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events_path = Path(events_path)
    out_dir = Path(out_dir) if out_dir is not None else events_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    records = read_events(events_path)
    start = next((r for r in records if r.get("event") == "start"), {})
    samples = [r for r in records if r.get("event") == "sample"]
    notes = [(r.get("t"), r.get("message", "")) for r in records if r.get("event") == "note"]
    times = [s["t"] for s in samples]
    written = []

    for name, title, ylabel, series in _CPU_PLOTS:
        fig, ax = _figure(plt, start, title, ylabel, notes)
        drew = False
        for label, get in series:
            points = [(t, get(s.get("cpu", {}))) for t, s in zip(times, samples)]
            points = [(t, v) for t, v in points if v is not None]
            if points:
                ax.plot(*zip(*points), label=label, marker="." if len(points) < 30 else None)
                drew = True
        written.append(_save(plt, fig, ax, out_dir / name, drew))

    gpus = start.get("gpus") or []
    if gpus:
        names = {g["index"]: f"GPU {g['index']} {g.get('name') or ''}".strip() for g in gpus}
        for name, title, ylabel, series in _GPU_PLOTS:
            fig, ax = _figure(plt, start, title, ylabel, notes)
            drew = False
            for index, gpu_name in names.items():
                for suffix, key, scale in series:
                    points = []
                    for t, s in zip(times, samples):
                        for row in s.get("gpu", []):
                            if row.get("index") == index and row.get(key) is not None:
                                value = row[key] / scale if scale else row[key]
                                points.append((t, value))
                    if points:
                        ax.plot(*zip(*points), label=gpu_name + suffix,
                                marker="." if len(points) < 30 else None)
                        drew = True
            written.append(_save(plt, fig, ax, out_dir / name, drew))
    return written
