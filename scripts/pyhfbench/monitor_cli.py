"""scripts/monitor: run anything under the utilization sampler, and the tools around it.

Subcommands:

* ``run [options] -- COMMAND ...``: run a command, sample it and its children,
  write ``events.jsonl`` and the plots, print a summary; exits with the
  command's status.
* ``workload NAME --backend B --device D [--param P ...]``: one workload of
  the utilization benchmarks (``benchmarks/support/utilization.py``: fit,
  toys, logpdf, interpolation) under the sampler, in this process.
* ``overhead``: what the sampler costs a fit (with and without it, alternated).
* ``machine-name``: an asv machine name that records the GPU model.
* ``plot EVENTS``: redraw the plots of an events.jsonl.
* ``pages --results-dir R --html-dir H``: after ``asv publish``, put the time
  series on the dashboard (html/utilization/index.html).
"""

import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_OUT = REPO_ROOT / "monitor"


def _monitor():
    from benchmarks.support import monitor

    return monitor


def _fmt(value, unit="", scale=1.0, digits=1):
    return "n/a" if value is None else f"{value / scale:.{digits}f}{unit}"


def format_summary(summary):
    """A few lines of text: CPU, memory, GPUs, notes."""
    mib = 1024 * 1024
    cpu = summary["cpu"]
    lines = [
        f"duration {summary['duration_s']:.2f} s, {summary['samples']} samples every "
        f"{summary['interval_s']:g} s (sampler: {_fmt(summary['sampler_ms_per_sample'], ' ms', digits=2)}"
        " CPU per sample)",
        f"CPU: mean {_fmt(cpu['cpu_percent_mean'], '%')}, peak {_fmt(cpu['cpu_percent_peak'], '%')}"
        f" of one core; peak RSS {_fmt(cpu['rss_peak'], ' MiB', mib)}; "
        f"system memory peak {_fmt(cpu['system_memory_used_peak'], ' MiB', mib)}",
        f"I/O: disk read {_fmt(cpu['disk_read_bytes'], ' MiB', mib)}, written "
        f"{_fmt(cpu['disk_write_bytes'], ' MiB', mib)}; network sent "
        f"{_fmt(cpu['net_sent_bytes'], ' MiB', mib)}, received {_fmt(cpu['net_recv_bytes'], ' MiB', mib)}",
    ]
    gpu = summary.get("gpu")
    if gpu:
        names = ", ".join(f"{d['index']}: {d.get('name')}" for d in gpu["devices"])
        lines.append(
            f"GPU ({names}; {'attributed to the process' if gpu['attributed'] else 'whole device'}):"
            f" utilization mean {_fmt(gpu['util_mean'], '%')}, peak {_fmt(gpu['util_peak'], '%')};"
            f" memory busy mean {_fmt(gpu['mem_busy_mean'], '%')}; memory used peak "
            f"{_fmt(gpu['mem_used_peak'], ' MiB', mib)}, process peak {_fmt(gpu['proc_mem_peak'], ' MiB', mib)};"
            f" power mean {_fmt(gpu['power_w_mean'], ' W')}; temperature peak "
            f"{_fmt(gpu['temperature_peak'], ' C', digits=0)}")
    else:
        lines.append(f"GPU: none sampled ({summary.get('gpu_reason')})")
    lines += [f"note: {note}" for note in summary["notes"]]
    return "\n".join(lines)


def _draw(events_path, notes, out_dir=None):
    from benchmarks.support import monitor_plots

    return monitor_plots.draw_plots_or_note(events_path, notes, out_dir)


def _out_dir(args, name):
    if args.out:
        return Path(args.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return DEFAULT_OUT / f"{name}-{stamp}"


def cmd_run(args):
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("scripts/monitor run: give a command after --", file=sys.stderr)
        return 2
    monitor = _monitor()
    out = _out_dir(args, args.name or Path(command[0]).name)
    events = out / monitor.EVENTS_FILE
    proc = subprocess.Popen(command)
    sampler = monitor.Sampler(interval=args.interval, pid=proc.pid, follow_children=True,
                              gpus=not args.no_gpu, events_path=events,
                              meta={"workload": args.name or " ".join(command), "command": command})
    sampler.start()
    try:
        status = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        status = proc.wait()
    summary = sampler.stop()
    plots = [] if args.no_plots else _draw(events, summary["notes"])
    print(format_summary(summary))
    print(f"time series: {events}" + (f" and {len(plots)} plots" if plots else ""))
    return status


def _utilization():
    from benchmarks.support import utilization

    return utilization


def cmd_workload(args):
    utilization = _utilization()
    spec = utilization.WORKLOADS.get(args.name)
    if spec is None:
        print(f"unknown workload {args.name!r}; known: {', '.join(utilization.WORKLOADS)}",
              file=sys.stderr)
        return 2
    extra = list(args.param or [])
    if len(extra) != len(spec.extra_params):
        print(f"workload {args.name} takes --param for: {', '.join(spec.extra_names) or 'nothing'}"
              f" (values: {spec.extra_params})", file=sys.stderr)
        return 2
    name = utilization.series_name(args.name, args.backend, args.device, extra)
    out = _out_dir(args, name)
    result = utilization.measure_one(args.name, args.backend, args.device, tuple(extra),
                                     seconds=args.seconds, interval=args.interval,
                                     events_dir=out)
    if result["status"] != "ok":
        print(f"{result['status']}: {result['reason']}")
        return 1 if result["status"] == "error" else 0
    summary = result["summary"]
    events = out / _monitor().EVENTS_FILE
    plots = [] if args.no_plots else _draw(events, summary["notes"])
    print(f"{name}: {summary['calls']} calls, {summary['seconds_per_call']:.4f} s per call")
    print(format_summary(summary))
    print(f"time series: {events}" + (f" and {len(plots)} plots" if plots else ""))
    return 0


def cmd_overhead(args):
    from benchmarks.support import settings

    utilization = _utilization()
    bench = utilization.OverheadFit()
    try:
        bench.setup(args.backend, args.device)
    except NotImplementedError as err:
        print(f"skipped: {err}")
        return 1
    result = utilization.measure_overhead(bench.fit, rounds=args.rounds, calls=args.calls,
                                          interval=args.interval)
    interval = args.interval or settings.monitor_interval()
    print(f"workload: pyhf.infer.mle.fit, {utilization.OVERHEAD_BINS}-bin "
          f"uncorrelated_background, backend {args.backend} on {args.device}")
    print(f"sampler interval {interval:g} s; {result['calls']} calls without and "
          f"{result['calls']} with the sampler, in {args.rounds} alternating rounds "
          f"({result['samples']} samples taken)")
    print(f"median per call: without {result['off_s'] * 1000:.2f} ms, "
          f"with {result['on_s'] * 1000:.2f} ms: overhead {result['overhead_percent']:+.2f}%")
    cost = result["ms_per_sample"]
    if cost is not None:
        print(f"sampler CPU time: {cost:.3f} ms per sample = {100 * cost / 1000 / interval:.2f}% "
              "of one core at this interval")
    return 0


def cmd_machine_name(args):
    from benchmarks.support import gpus
    from pyhfbench.machines import propose_machine_name

    inventory = gpus.gpu_inventory()
    print(propose_machine_name(args.hostname, inventory))
    if inventory["gpus"]:
        for gpu in inventory["gpus"]:
            print(f"# GPU {gpu['index']}: {gpu['name']} ({gpu['uuid']})", file=sys.stderr)
    else:
        print(f"# {inventory['reason']}", file=sys.stderr)
    return 0


def cmd_plot(args):
    notes = []
    plots = _draw(args.events, notes, args.out)
    for note in notes:
        print(note, file=sys.stderr)
    for path in plots:
        print(path)
    return 0 if plots else 1


def cmd_pages(args):
    from pyhfbench.utilization_pages import add_utilization_pages

    index = add_utilization_pages(args.results_dir, args.html_dir, args.monitor_dir,
                                  link=not args.no_link)
    print(index)
    return 0


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/monitor",
        description="Sample CPU, memory, I/O and NVIDIA GPUs while something runs "
        "(events.jsonl and utilization plots).")
    sub = parser.add_subparsers(dest="cmd", required=True)

    def sampling_options(p):
        p.add_argument("--interval", type=float, default=None,
                       help="seconds between samples (default: $PYHF_BENCH_MONITOR_INTERVAL or 0.1)")
        p.add_argument("--out", help="folder for events.jsonl and the plots "
                       "(default: monitor/<name>-<time>)")
        p.add_argument("--no-plots", action="store_true", help="write events.jsonl only")

    p = sub.add_parser("run", help="run a command under the sampler")
    sampling_options(p)
    p.add_argument("--name", help="what to call it (default: the command's name)")
    p.add_argument("--no-gpu", action="store_true", help="leave NVML alone")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("workload", help="a utilization workload under the sampler")
    sampling_options(p)
    p.add_argument("name", help="fit, toys, logpdf or interpolation")
    p.add_argument("--backend", default="numpy")
    p.add_argument("--device", default="cpu")
    p.add_argument("--param", action="append",
                   help="extra parameter, in order (logpdf: precision then batch size; "
                   "interpolation: code)")
    p.add_argument("--seconds", type=float, default=2.0, help="run it at least this long")
    p.set_defaults(func=cmd_workload)

    p = sub.add_parser("overhead", help="what the sampler costs a fit")
    p.add_argument("--backend", default="numpy")
    p.add_argument("--device", default="cpu")
    p.add_argument("--interval", type=float, default=None)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--calls", type=int, default=10)
    p.set_defaults(func=cmd_overhead)

    p = sub.add_parser("machine-name", help="propose an asv machine name with the GPU model")
    p.add_argument("--hostname", help="instead of this host's name")
    p.set_defaults(func=cmd_machine_name)

    p = sub.add_parser("plot", help="draw the plots of an events.jsonl")
    p.add_argument("events")
    p.add_argument("--out", help="folder for the PNGs (default: beside the events)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("pages", help="add the time series to a published dashboard")
    p.add_argument("--results-dir", default=str(REPO_ROOT / "results"))
    p.add_argument("--html-dir", default=str(REPO_ROOT / "html"))
    p.add_argument("--monitor-dir", default=None,
                   help="another root of time series (default: $PYHF_BENCH_MONITOR_DIR)")
    p.add_argument("--no-link", action="store_true",
                   help="do not add a link to html/index.html")
    p.set_defaults(func=cmd_pages)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
