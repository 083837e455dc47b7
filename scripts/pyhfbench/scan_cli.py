"""scripts/scan: fit every signal hypothesis of a pallet, in parallel, resumably.

Subcommands:

* ``run KEY... [--patches GLOB] [--sample N] [--executor serial|processes|dask]
  [--workers N] [--scheduler ADDRESS] [--output FILE]``: the published per-patch
  hypotest of the selected patches (KEY: a likelihood key such as
  ``sbottom/RegionB`` or a pallet name for all of its keys); a rich progress
  bar, records written to ``--output`` as they arrive (a re-run with the same
  file skips finished patches), a summary, and a CLs plot over the mass
  plane where patch names carry masses. Exit status 0 when every patch
  succeeded, 1 when some failed or were lost, 130 on Ctrl-C.
* ``summary FILE [--baseline FILE]``: the summary of a results file's last run;
  with a baseline (the serial run of the same patches) the measured speedup.
* ``plot FILE [--output PNG]``: the CLs plot of a results file.
* ``calibrate [--executor] [--workers N]``: the machine's parallel capacity alone.

The code that runs on the workers is ``benchmarks/support/scan.py``; the driver
and the reading of results files are in ``scan_driver.py`` beside this module.
"""

import argparse
import json
import os
import re
import signal
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.support import settings  # noqa: E402

DEFAULT_DIR = Path("scan-results")

#: Patch names that carry signal masses: <model>_<m1>_<m2>[_<m3>...] (sbottom_<msb>_<mn2>_<mn1>).
MASS_NAME = re.compile(r"^(?P<model>[A-Za-z][A-Za-z0-9]*?)_(?P<masses>\d+(?:p\d+)?(?:_\d+(?:p\d+)?)+)$")

#: Axis labels of the mass planes of known pallets (patch name masses in order).
MASS_LABELS = {
    "sbottom": (r"$m(\tilde{b}_1)$ [GeV]", r"$m(\tilde{\chi}^0_2)$ [GeV]", r"$m(\tilde{\chi}^0_1)$ [GeV]"),
}


def _scan():
    from benchmarks.support import scan

    return scan


def _driver():
    from . import scan_driver

    return scan_driver


def default_output(keys):
    name = "+".join(key.replace("/", "-") for key in keys)
    return DEFAULT_DIR / f"{name}.json"


# --- text --------------------------------------------------------------------------------------

def _f(value, fmt="{:.2f}", none="n/a"):
    return none if value is None else fmt.format(value)


def format_summary(summary):
    """Lines of text for a run summary (``run_scan``'s return value or a stored run)."""
    lines = [
        f"executor: {summary.get('executor')} ({summary.get('workers')} workers, "
        f"{summary.get('blas_threads')} BLAS thread(s) each, backend {summary.get('backend')}) "
        f"on {summary.get('host')} ({summary.get('cores')} cores)",
        f"patches: {summary['patches']} run ({summary['ok']} ok"
        + (f", {summary['no_cls']} of them without a finite CLs_obs" if summary.get("no_cls") else "")
        + f", {summary['errors']} failed, "
        f"{summary['lost']} lost), {summary.get('skipped', 0)} skipped as already finished"
        + ("; INTERRUPTED" if summary.get("status") == "interrupted" else ""),
        f"wall time {_f(summary['wall_s'])} s; summed per-patch time {_f(summary['sum_patch_s'])} s "
        f"(hypotest {_f(summary['sum_fit_s'])} s, CPU {_f(summary['sum_cpu_s'])} s); "
        f"{_f(summary['patches_per_s'], '{:.3f}')} patches/s",
        f"concurrency (summed per-patch time / wall) {_f(summary['concurrency'])}; "
        f"cores used (CPU time / wall) {_f(summary['cores_used'])}",
        f"speedup {_f(summary['speedup'])}x (estimated serial time {_f(summary['serial_estimate_s'], '{:.1f}')} s"
        + (f" = CPU time / {_f(summary['single_share'])}, the share of a core one process gets now)"
           if summary.get("capacity") else " = CPU time: no calibration, so against an idle core)"),
        f"parallel efficiency: {_f(_pct(summary['efficiency_vs_workers']), '{:.0f}%')} of "
        f"{summary.get('workers')} workers, {_f(_pct(summary['efficiency_vs_cores']), '{:.0f}%')} "
        f"of the cores"
        + (f", {_f(_pct(summary['efficiency_vs_capacity']), '{:.0f}%')} of the measured "
           f"capacity ({_f(summary.get('capacity'))}x)" if summary.get("capacity") else ""),
    ]
    calibration = summary.get("calibration")
    if calibration:
        lines.append(format_calibration(calibration))
    return lines


def _pct(value):
    return None if value is None else 100 * value


def format_calibration(calibration):
    text = (
        f"calibration: {calibration['workers']} copies of the CPU-bound reference run "
        f"{calibration['capacity']:.2f}x faster than one ({calibration['single_s']:.2f} s alone, "
        f"{calibration['parallel_s']:.2f} s for {calibration['workers']}; one process gets "
        f"{calibration['single_share']:.2f} of a core, {calibration['workers']} get "
        f"{calibration['parallel_cores']:.2f} cores; {calibration['cores']} cores reported)"
    )
    if "before" in calibration:
        text += (f"; mean of before ({calibration['before']['capacity']:.2f}x, share "
                 f"{calibration['before']['single_share']:.2f}) and after the scan "
                 f"({calibration['after']['capacity']:.2f}x, share {calibration['after']['single_share']:.2f})")
    return text


def format_measured(measured):
    return (
        f"measured speedup over the baseline: {measured['speedup']:.2f}x "
        f"({measured['baseline_wall_s']:.1f} s -> {measured['wall_s']:.1f} s, "
        f"{measured['patches']} patches, {measured['workers']} workers, efficiency "
        f"{100 * measured['efficiency_vs_workers']:.0f}%)"
        + ("" if measured["same_patches"] else "; WARNING: the runs cover different patches")
    )


# --- progress ----------------------------------------------------------------------------------

class Reporter:
    """A rich progress bar on a terminal; one line per patch otherwise (logs, nohup)."""

    def __init__(self, enabled=True, stream=None):
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.progress = None
        self.task = None
        self.failed = 0

    def start(self, total, label):
        if self.enabled and self.stream.isatty():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn)

            self.progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                TextColumn("{task.fields[last]}"),
            )
            self.progress.start()
            self.task = self.progress.add_task(label, total=total, last="")
        else:
            print(f"{label}: {total} patches to run", file=self.stream, flush=True)

    def __call__(self, record, done, total):
        status = record.get("status")
        if status == "ok":
            text = (f"{record['key']} {record['patch']}: CLs obs {_f(record['cls_obs'], '{:.4g}')}"
                    f", exp {_f((record['cls_exp'] or [None] * 3)[2], '{:.4g}')} "
                    f"({record['patch_s']:.1f} s on {record.get('worker')})")
        else:
            self.failed += 1
            text = f"{record['key']} {record['patch']}: {status.upper()}: {record.get('error')}"
        if self.progress is not None:
            self.progress.update(self.task, completed=done, last=text[:90])
            if status != "ok":
                self.progress.console.print(f"[red]{text}")
        else:
            print(f"[{done}/{total}] {text}", file=self.stream, flush=True)

    def stop(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


# --- the plot ----------------------------------------------------------------------------------

def parse_masses(patch_name):
    """(model, [masses]) from a patch name like ``sbottom_1300_205_60``, or None."""
    match = MASS_NAME.match(patch_name)
    if not match:
        return None
    masses = [float(part.replace("p", ".")) for part in match.group("masses").split("_")]
    return match.group("model"), masses


def mass_points(records):
    """{key: [(m1, m2, record)]} for the records whose patch names carry masses."""
    points = {}
    for record in records:
        parsed = parse_masses(record["patch"])
        if parsed is None:
            continue
        _, masses = parsed
        points.setdefault(record["key"], []).append((masses[0], masses[1], record))
    return points


def plot(records, output, title=None):
    """CLs observed over the first two masses of the patch names, one panel per likelihood
    key, with the observed (solid) and expected (dashed) CLs = 0.05 contours; failed
    patches as crosses. Returns the path, or None when no patch name carries masses."""
    points = mass_points(records)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from matplotlib.lines import Line2D

    keys = sorted(points)
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 4.6), squeeze=False,
                             constrained_layout=True)
    norm = LogNorm(vmin=1e-4, vmax=1.0)
    mappable = None
    for ax, key in zip(axes[0], keys):
        labels = MASS_LABELS.get(key.split("/")[0], ("mass 1 [GeV]", "mass 2 [GeV]"))
        good = [(x, y, r) for x, y, r in points[key]
                if r.get("status") == "ok" and r.get("cls_obs") is not None]
        bad = [(x, y) for x, y, r in points[key] if (x, y, r) not in good]
        if good:
            xs, ys = [p[0] for p in good], [p[1] for p in good]
            values = [min(max(p[2]["cls_obs"], 1e-4), 1.0) for p in good]
            mappable = ax.scatter(xs, ys, c=values, cmap="viridis", norm=norm, s=22,
                                  edgecolors="k", linewidths=0.3)
            _contours(ax, good)
        handles = [Line2D([], [], color="red", linestyle="-", label=r"CL$_s$ = 0.05 observed"),
                   Line2D([], [], color="red", linestyle="--", label=r"CL$_s$ = 0.05 expected")]
        if bad:
            handles.append(ax.scatter([p[0] for p in bad], [p[1] for p in bad], marker="x",
                                      c="red", s=30, label="failed / no CLs"))
        ax.legend(handles=handles, loc="upper left", fontsize=7)
        _pad_limits(ax, [p[0] for p in points[key]], [p[1] for p in points[key]])
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_title(f"{key} ({len(points[key])} patches)", fontsize=10)
    if mappable is not None:
        fig.colorbar(mappable, ax=axes[0].tolist(), label=r"CL$_s$ observed ($\mu$ = 1)")
    if title:
        fig.suptitle(title, fontsize=10)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output


def _pad_limits(ax, xs, ys, fraction=0.06):
    """Axis limits with room around the points (contours pin the limits to the data)."""
    for values, setter in ((xs, ax.set_xlim), (ys, ax.set_ylim)):
        low, high = min(values), max(values)
        pad = (high - low) * fraction or 1.0
        setter(low - pad, high + pad)


def _contours(ax, good):
    """CLs = 0.05 contours (observed solid, expected dashed) where the points allow one."""
    import matplotlib.tri as mtri
    import numpy as np

    unique = {}
    for x, y, record in good:
        unique.setdefault((x, y), record)
    if len(unique) < 4:
        return
    xs = np.array([p[0] for p in unique])
    ys = np.array([p[1] for p in unique])
    try:
        triangulation = mtri.Triangulation(xs, ys)
    except (ValueError, RuntimeError):  # collinear points
        return
    for field, style in (("obs", "-"), ("exp", "--")):
        values = []
        for record in unique.values():
            value = record["cls_obs"] if field == "obs" else (record.get("cls_exp") or [None] * 3)[2]
            values.append(np.nan if value is None else np.log10(max(value, 1e-6)))
        values = np.array(values)
        if np.isnan(values).any() or values.min() > np.log10(0.05) or values.max() < np.log10(0.05):
            continue
        try:
            ax.tricontour(triangulation, values, levels=[np.log10(0.05)], colors="red",
                          linestyles=style, linewidths=1.2)
        except (ValueError, RuntimeError):
            continue


# --- commands ----------------------------------------------------------------------------------

def _interrupt_on_sigterm():
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def cmd_run(args):
    scan, driver = _scan(), _driver()
    output = Path(args.output) if args.output else default_output(args.keys)
    reporter = Reporter(enabled=not args.no_progress)

    def on_start(tasks, info):
        done = scan.Results.open(output, scan.task_spec(args.backend)).finished(args.retry_errors)
        todo = sum(scan.record_id(*task) not in done for task in tasks)
        print(f"{len(tasks)} patches selected, {len(tasks) - todo} already in {output}; "
              f"executor: {info.label}", flush=True)
        reporter.start(todo, ", ".join(sorted({key for key, _ in tasks})))

    _interrupt_on_sigterm()
    blas = args.blas_threads or settings.blas_threads()
    workers = 1 if args.executor == "serial" else (args.workers or os.cpu_count() or 1)
    if not args.scheduler and workers * blas > (os.cpu_count() or 1):
        print(f"warning: {workers} workers x {blas} BLAS threads exceed the {os.cpu_count()} cores: "
              "the workers will compete for them (lower --workers or --blas-threads)", file=sys.stderr)
    if not args.no_calibrate:
        print("calibrating the executor with the CPU-bound reference ...", flush=True)
    try:
        summary = driver.scan(
            args.keys, patterns=args.patches, sample=args.sample, limit=args.limit,
            results_path=output, executor=args.executor, workers=args.workers,
            backend=args.backend, blas_threads=args.blas_threads, scheduler=args.scheduler,
            calibrate_first=not args.no_calibrate, retry_errors=args.retry_errors,
            on_record=reporter, on_start=on_start,
        )
    except KeyboardInterrupt:
        reporter.stop()
        print(f"\ninterrupted: the finished patches are in {output}; run the same command "
              "again to complete the scan", file=sys.stderr)
        return 130
    except scan.ScanError as err:
        reporter.stop()
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        reporter.stop()
    print("\n".join(format_summary(summary)))
    print(f"results: {output}")
    if not args.no_plot:
        document = driver.load_results(output)
        path = plot(document["records"], args.plot or output.with_suffix(".png"),
                    title=f"pyhf {_pyhf_version(document)}, {summary.get('executor')}")
        if path:
            print(f"plot: {path}")
    return 0 if summary["errors"] == 0 and summary["lost"] == 0 else 1


def _pyhf_version(document):
    versions = {r.get("pyhf") for r in document["records"] if r.get("pyhf")}
    return ", ".join(sorted(versions)) or "?"


def cmd_summary(args):
    driver = _driver()
    document = driver.load_results(args.results)
    run = driver.last_run(document, complete=False)
    records = document["records"]
    status = {}
    for record in records:
        status[record.get("status")] = status.get(record.get("status"), 0) + 1
    out = {"records": len(records), "by_status": status, "runs": len(document["runs"]),
           "last_run": run}
    if args.baseline:
        out["measured"] = driver.measured_speedup(driver.load_results(args.baseline), document)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{args.results}: {len(records)} records "
          f"({', '.join(f'{n} {s}' for s, n in sorted(status.items()))}), {len(document['runs'])} run(s)")
    if run:
        print(f"last run ({run.get('status')}):")
        print("\n".join("  " + line for line in format_summary(run)))
    if args.baseline:
        print(format_measured(out["measured"]))
    return 0


def cmd_plot(args):
    document = _driver().load_results(args.results)
    path = plot(document["records"], args.output or Path(args.results).with_suffix(".png"))
    if path is None:
        print("no patch name carries masses: nothing to plot", file=sys.stderr)
        return 1
    print(f"plot: {path}")
    return 0


def cmd_calibrate(args):
    scan = _scan()
    with scan.open_executor(args.executor, args.workers, scheduler=args.scheduler) as info:
        calibration = scan.calibrate(info.executor, info.workers, repeats=args.repeats)
    if args.json:
        print(json.dumps(calibration, indent=1))
    else:
        print(f"{info.label}: {format_calibration(calibration)}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="scripts/scan", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="scan the patches of a pallet")
    run.add_argument("keys", nargs="+", metavar="KEY",
                     help="likelihood key (sbottom/RegionB) or pallet name (sbottom: all its keys)")
    run.add_argument("--patches", nargs="+", metavar="GLOB", help="only patches matching these")
    run.add_argument("--sample", type=int, metavar="N", help="N patches per key, evenly spread")
    run.add_argument("--limit", type=int, metavar="N", help="at most the first N patches per key")
    _executor_options(run)
    run.add_argument("--backend", default="numpy", help="pyhf backend in the workers (default numpy)")
    run.add_argument("--blas-threads", type=int, metavar="N",
                     help="BLAS/torch threads per worker (default PYHF_BENCH_THREADS or 1)")
    run.add_argument("--output", metavar="FILE",
                     help=f"results file (default {DEFAULT_DIR}/<keys>.json); re-runs resume it")
    run.add_argument("--plot", metavar="PNG", help="plot path (default: the results file with .png)")
    run.add_argument("--no-plot", action="store_true")
    run.add_argument("--no-calibrate", action="store_true", help="skip the capacity measurement")
    run.add_argument("--retry-errors", action="store_true",
                     help="re-run patches whose fit failed in an earlier run")
    run.add_argument("--no-progress", action="store_true", help="one line per patch, no bar")
    run.set_defaults(func=cmd_run)

    summary = sub.add_parser("summary", help="summarize a results file")
    summary.add_argument("results")
    summary.add_argument("--baseline", metavar="FILE", help="a serial run of the same patches")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(func=cmd_summary)

    plot_cmd = sub.add_parser("plot", help="plot CLs over the mass plane")
    plot_cmd.add_argument("results")
    plot_cmd.add_argument("--output", metavar="PNG")
    plot_cmd.set_defaults(func=cmd_plot)

    calibrate = sub.add_parser("calibrate", help="measure the executor's parallel capacity")
    _executor_options(calibrate)
    calibrate.add_argument("--repeats", type=int, default=3)
    calibrate.add_argument("--json", action="store_true")
    calibrate.set_defaults(func=cmd_calibrate)
    return parser


def _executor_options(parser):
    parser.add_argument("--executor", choices=("serial", "processes", "dask"), default=None,
                        help="serial, processes (default) or dask (default with --scheduler)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes (default: the core count)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running Dask scheduler (tcp://host:8786) instead of a LocalCluster")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if hasattr(args, "executor") and args.executor is None:
        args.executor = "dask" if args.scheduler else "processes"
    if getattr(args, "scheduler", None) and args.executor != "dask":
        build_parser().error("--scheduler needs --executor dask")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return args.func(args)
