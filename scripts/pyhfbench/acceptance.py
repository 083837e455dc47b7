"""The GPU acceptance run: one prepared command for a GPU node (docs/gpu-hosts.md).

From a wheelhouse (``scripts/gpu-wheels``) holding pyhf ``main`` and v0.7.6, on
the offline-node path (``offline_node.run_node``), it runs for real:

* the GPU combinations of the suite: warm ``hypotest``, unconditional fit and
  batched ``logpdf`` for JAX at ``main`` and for JAX and PyTorch at v0.7.6;
* the GPU utilization tracks of batched ``logpdf`` (``LogpdfUtilization``);
* the study (``bench_gpu_study``): throughput, GPU utilization and memory busy
  of batched ``logpdf`` against batch size 1 to 10^6, 32b and 64b, FP64/FP32;

as asv results under the machine named with its GPU model, then writes the
study's page with plots, and ``acceptance.md`` / ``acceptance.json`` (GPU,
driver, each combination's figure, the wall time of each part).

``--cpu`` runs the same plan on device ``cpu`` with small batches (the GPU
figures are then n/a): what CI runs end to end on a machine without a GPU.
"""

import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import gpu_study, offline_node, wheelhouse
from . import results as resultslib
from .support import settings, support_module

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The likelihood of the suite's fit and hypotest parts: generated, so the node needs no
#: pallet download.
LIKELIHOOD = "generated/small"
#: GPU time the whole run is planned to fit (the issue's 8 minutes); parts not started
#: before it is spent are reported as not run.
DEFAULT_BUDGET = 480.0
STATE, SUMMARY = "acceptance-state.json", "acceptance.json"
STUDY_BATCH_SIZES = {"gpu": [10**k for k in range(7)], "cpu": [1, 100]}


@dataclass
class Part:
    label: str
    revision: str
    backends: tuple
    bench: list = field(default_factory=list)
    env: dict = field(default_factory=dict)


def plan(device="gpu", main="main", release="v0.7.6"):
    """The parts of the run, in order: one asv run per commit (one environment, one discovery).

    On the CPU (``--cpu``) each benchmark keeps one parameter combination and the study only its
    throughput figures: the GPU figures would be n/a, each after a process start.
    """
    gpu = device == "gpu"
    parts = []
    for revision, backends in ((main, ("jax",)), (release, ("jax", "pytorch"))):
        b = "(" + "|".join(backends) + ")"
        batched = "'(32b|64b)', (1|1000)" if gpu else "'64b', 1000"
        bench = [
            rf"^bench_hypotest\.AsymptoticCLs\.time_hypotest_warm\('{b}', '{device}', '{LIKELIHOOD}'\)",
            rf"^bench_fit\.MaximumLikelihoodFit\.time_unconditional_fit"
            rf"\('{b}', '{device}', 'scipy', '{LIKELIHOOD}'\)",
            rf"^bench_model\.BatchedLogpdf\.time_batched_logpdf\('{b}', '{device}', {batched}\)",
        ]
        if gpu:
            bench.append(rf"^bench_utilization\.LogpdfUtilization\.track_gpu_(utilization_mean|"
                         rf"memory_busy)\('{b}', 'gpu', '(32b|64b)', (1|100|10000)\)")
        study_tracks = r"\w+" if gpu else "(throughput|fp64_over_fp32_throughput)"
        bench.append(rf"^bench_gpu_study\.(BatchScaling|PrecisionRatio)\.track_{study_tracks}"
                     rf"\('{b}', '{device}'")
        parts.append(Part(
            f"suite and study at {revision}", revision, backends, bench,
            {settings.STUDY_BACKENDS: ",".join(backends), settings.STUDY_DEVICES: device,
             settings.STUDY_BATCH_SIZES: ",".join(map(str, STUDY_BATCH_SIZES[device]))}))
    return parts


def gpu_description():
    """{"gpus": [...], "driver": ..., "reason": ...} from NVML (no CUDA)."""
    inventory = support_module("gpus").gpu_inventory()
    driver = None
    if inventory["gpus"]:
        try:
            import pynvml

            pynvml.nvmlInit()
            try:
                driver = pynvml.nvmlSystemGetDriverVersion()
                driver = driver.decode() if isinstance(driver, bytes) else str(driver)
            finally:
                pynvml.nvmlShutdown()
        except Exception as err:  # the driver version is information, not a condition
            driver = f"unknown ({type(err).__name__}: {err})"
    return {**inventory, "driver": driver}


def selected_figures(results_dir, machine, commits, prefixes):
    """[(commit, benchmark, params, state, value)] of the benchmarks the run selected."""
    rows = []
    for stored in resultslib.load_machine(results_dir, machine):
        if stored.commit not in commits:
            continue
        for (benchmark, params), m in sorted(stored.measurements.items()):
            if benchmark.startswith(prefixes) and m.state != resultslib.SKIPPED:
                rows.append((stored.commit, benchmark, params, m.state, m.value))
    return rows


def _figure(benchmark, value):
    if not isinstance(value, float) or math.isnan(value):
        return ""
    return f"{value:.4g} s" if benchmark.rsplit(".", 1)[-1].startswith("time") else f"{value:.4g}"


def write_report(out_dir, machine, gpu, parts_run, rows, labels, study_page):
    lines = ["# GPU acceptance run", "",
             f"Machine `{machine}`; GPU(s): "
             f"{', '.join(g.get('name') or '?' for g in gpu['gpus']) or 'none (' + str(gpu['reason']) + ')'}"
             f"; driver {gpu['driver'] or 'n/a'}.", "",
             "| part | commit | wall (s) | asv status |", "| --- | --- | --- | --- |"]
    for part in parts_run:
        lines.append(f"| {part['label']} | {part['commit'][:8] if part['commit'] else ''} | "
                     f"{part['wall']:.0f} | {part['status']} |")
    lines += ["", "| commit | benchmark | parameters | result |", "| --- | --- | --- | --- |"]
    for commit, benchmark, params, state, value in rows:
        shown = _figure(benchmark, value) if state == resultslib.OK else state
        lines.append(f"| {commit[:8]} ({labels.get(commit, '')}) | {benchmark} | "
                     f"{', '.join(params)} | {shown} |")
    lines += ["", f"Study: [{study_page.name}]({study_page.name})", ""]
    page = Path(out_dir) / "acceptance.md"
    page.write_text("\n".join(lines))
    return page


def run_acceptance(wheelhouse_dir, out_dir, host_python=sys.executable, machine=None,
                   cpu=False, budget=DEFAULT_BUDGET, main="main", release="v0.7.6",
                   machine_file=None, log=print):
    """Run the plan; return the summary (also written to ``out_dir/acceptance.json``)."""
    started = time.monotonic()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = wheelhouse.verify(wheelhouse_dir)
    device = "cpu" if cpu else "gpu"
    gpu = gpu_description()
    if not cpu and not gpu["gpus"]:
        raise offline_node.NodeError(f"no GPU for the acceptance run: {gpu['reason']} "
                                     "(--cpu runs the same plan on the CPU)")
    machine = machine or offline_node.default_machine()
    results_dir = out_dir / "results"
    env = {settings.MONITOR_SECONDS: "0.3" if cpu else "1", settings.SIZE: "quick"}
    parts_run, labels, trouble = [], {}, []
    for part in plan(device, main, release):
        entry = offline_node.select_entries(manifest, [part.revision])[0]
        labels[entry["commit"]] = part.revision
        if time.monotonic() - started > budget:
            log(f"== {part.label}: not run, the {budget:.0f} s budget is spent")
            parts_run.append({"label": part.label, "commit": entry["commit"], "wall": 0.0,
                              "status": "not run (budget)"})
            continue
        log(f"== {part.label}")
        begun = time.monotonic()
        statuses, found = offline_node.run_node(
            wheelhouse_dir, out_dir / "node", results_dir, machine, host_python,
            revisions=[part.revision], bench=part.bench, quick=True, machine_file=machine_file,
            expect_gpu=not cpu, extra_env={**env, **part.env}, log=log)
        trouble += found
        parts_run.append({"label": part.label, "commit": entry["commit"],
                          "wall": time.monotonic() - begun, "status": statuses[entry["commit"]]})
    state = {"machine": machine, "device": device, "gpu": gpu, "parts": parts_run,
             "labels": labels, "gpu_trouble": sorted(set(trouble)),
             "wall": time.monotonic() - started}
    (out_dir / STATE).write_text(json.dumps(state, indent=2) + "\n")
    # Reading asv results needs asv, which the node's own Python lacks: the report is written
    # by the Python of the last commit's environment (asv from the support wheels).
    env_python = out_dir / "node" / "env" / "bin" / "python"
    python = env_python if env_python.exists() else sys.executable
    subprocess.run([str(python), str(REPO_ROOT / "scripts" / "gpu-acceptance"), "--report-only",
                    "--output", str(out_dir), "--wheelhouse", str(wheelhouse_dir)], check=True)
    return json.loads((out_dir / SUMMARY).read_text())


def write_outputs(out_dir):
    """From the run's state and its asv results: the study page, acceptance.md and .json."""
    out_dir = Path(out_dir)
    state = json.loads((out_dir / STATE).read_text())
    machine, labels, cpu = state["machine"], state["labels"], state["device"] == "cpu"
    results_dir = out_dir / "results"
    study_page = gpu_study.write_page(
        results_dir, machine, out_dir, commits=list(labels), labels=labels,
        title="GPU study: batched logpdf against batch size" + (" (CPU mode)" if cpu else ""))
    rows = selected_figures(results_dir, machine, set(labels),
                            ("bench_hypotest.", "bench_fit.", "bench_model.", "bench_utilization.",
                             "bench_gpu_study."))
    report = write_report(out_dir, machine, state["gpu"], state["parts"], rows, labels, study_page)
    summary = {**state, "results_dir": str(results_dir), "report": str(report),
               "study_page": str(study_page),
               "figures": [{"commit": c, "benchmark": b, "params": list(p), "state": s,
                            "value": v if isinstance(v, float) and not math.isnan(v) else None}
                           for c, b, p, s, v in rows]}
    (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/gpu-acceptance",
        description="The GPU acceptance run on a GPU node, from a wheelhouse with pyhf main "
        "and v0.7.6 (docs/gpu-hosts.md).")
    parser.add_argument("--wheelhouse", required=True)
    parser.add_argument("--output", default=str(REPO_ROOT / ".asv" / "gpu-acceptance"))
    parser.add_argument("--host-python", default=sys.executable)
    parser.add_argument("--machine", help="asv machine name (default: <host>-<GPU model>)")
    parser.add_argument("--machine-file", help="asv's machine file (default: ~/.asv-machine.json)")
    parser.add_argument("--main", default="main", help="the wheelhouse revision for main")
    parser.add_argument("--release", default="v0.7.6", help="the wheelhouse revision for v0.7.6")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                        help="seconds after which no further part starts (default: %(default)s)")
    parser.add_argument("--cpu", "--dry-run", dest="cpu", action="store_true",
                        help="the same plan on device cpu with small batches (no GPU needed)")
    parser.add_argument("--plan", action="store_true", help="print the plan and exit")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the pages of an earlier run in --output from its results")
    args = parser.parse_args(argv)
    if args.report_only:
        write_outputs(args.output)
        return 0
    if args.plan:
        for part in plan("cpu" if args.cpu else "gpu", args.main, args.release):
            print(f"{part.label}: {part.env or ''}")
            for regex in part.bench:
                print(f"  --bench {regex}")
        return 0
    try:
        summary = run_acceptance(args.wheelhouse, args.output, args.host_python, args.machine,
                                 args.cpu, args.budget, args.main, args.release, args.machine_file)
    except (offline_node.NodeError, wheelhouse.WheelhouseError) as err:
        print(f"gpu-acceptance: {err}", file=sys.stderr)
        return 2
    print(f"Report: {summary['report']}\nStudy: {summary['study_page']}\n"
          f"Results: {summary['results_dir']}/{summary['machine']}\nWall time: {summary['wall']:.0f} s")
    for reason in summary["gpu_trouble"]:
        print(f"gpu-acceptance: GPU trouble: {reason}", file=sys.stderr)
    if summary["gpu_trouble"]:
        return 2
    return 0 if all(p["status"] == 0 for p in summary["parts"]) else 1
