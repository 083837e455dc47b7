"""The host's side of a pallet scan (scripts/scan): the driver, and reading results files.

``benchmarks/support/scan.py`` holds what runs in the workers and what the
scan benchmark (``benchmarks/bench_scan.py``) needs inside asv's per-commit
environments: the task, the executors, the calibration, ``select_tasks``,
``run_scan`` and its results file. This module holds what only
``scripts/scan`` (``scan_cli.py``) does with them:

* ``scan(keys, ...)``: select the patches, open an executor, calibrate it, run
  the scan, calibrate again, and store the revised summary (``update_run``);
* ``load_results``, ``last_run``, ``measured_speedup``: read a results file,
  its last run, the measured speedup over a baseline run of the same patches;
* ``compare_records``: the patches whose CLs differ between two runs.

The workers still import the task by its module path in ``benchmarks.support.scan``.
"""

import json
import math
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.support import threads  # noqa: E402
from benchmarks.support.scan import (  # noqa: E402
    FORMAT, Results, ScanError, calibrate, combine_calibrations, open_executor, record_id, run_scan,
    select_tasks, summarize,
)


# --- the driver --------------------------------------------------------------------------------

def scan(keys, patterns=None, sample=None, limit=None, results_path=None, executor="processes",
         workers=None, backend="numpy", blas_threads=None, scheduler=None, calibrate_first=True,
         retry_errors=False, on_record=None, on_start=None):
    """Select patches, open an executor, calibrate it, run the scan, calibrate again;
    returns the summary (efficiencies against the mean of the two calibrations).

    ``on_start(tasks_todo, info)`` is called before the first task (for progress bars).
    """
    tasks = select_tasks(keys, patterns, sample, limit)
    if not tasks:
        raise ScanError(f"no patches selected from {', '.join(keys)}")
    blas_threads = blas_threads or threads.configured_threads()
    used_keys = sorted({key for key, _ in tasks})
    with open_executor(executor, workers, backend, blas_threads, used_keys, scheduler) as info:
        calibration = calibrate(info.executor, info.workers) if calibrate_first else None
        if on_start is not None:
            on_start(tasks, info)
        summary = run_scan(tasks, info.executor, results_path, backend=backend,
                           blas_threads=blas_threads, workers=info.workers,
                           executor_label=info.label, retry_errors=retry_errors,
                           calibration=calibration, on_record=on_record)
        if calibration is not None and summary["patches"]:
            combined = combine_calibrations(calibration, calibrate(info.executor, info.workers))
            summary.update(summarize(summary["records"], summary["wall_s"], info.workers, combined))
            summary["calibration"] = combined
            update_run(results_path, summary)
        return summary


def update_run(results_path, summary):
    """Store a run's revised summary (records excluded) in its results file."""
    if results_path is None:
        return
    results = Results.open(results_path, None, check=False)
    for index, run in enumerate(results.runs):
        if run.get("run") == summary["run"]:
            results.runs[index] = {k: v for k, v in summary.items()
                                   if k not in ("records", "results_path")}
    results.save()


# --- reading results ---------------------------------------------------------------------------

def load_results(path):
    """The document of a results file (a dict: spec, records, runs)."""
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ScanError(f"{path}: no such results file") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ScanError(f"{path}: not a scan results file")
    return document


def last_run(document, complete=True):
    """The last run of a results document (the last complete one if ``complete``), or None."""
    runs = [run for run in document.get("runs", [])
            if not complete or run.get("status") == "complete"]
    return runs[-1] if runs else None


def measured_speedup(baseline, document):
    """Measured speedup of ``document``'s last complete run over ``baseline``'s (results
    documents of the same patches, e.g. a serial run and a parallel one): the ratio of
    their wall times, with the patch counts and whether the patch sets agree."""
    base, run = last_run(baseline), last_run(document)
    if base is None or run is None:
        raise ScanError("both results files need a complete run")

    def patches_of(doc, number):
        return {record_id(r["key"], r["patch"]) for r in doc["records"] if r.get("run") == number}

    same = patches_of(baseline, base["run"]) == patches_of(document, run["run"])
    return {"baseline_wall_s": base["wall_s"], "wall_s": run["wall_s"],
            "speedup": base["wall_s"] / run["wall_s"], "workers": run["workers"],
            "efficiency_vs_workers": base["wall_s"] / run["wall_s"] / max(1, run["workers"]),
            "baseline_patches": base["patches"], "patches": run["patches"], "same_patches": same}


def compare_records(first, second, rtol=1e-6, atol=1e-10):
    """Patches whose CLs (observed and expected band) differ between two record lists:
    [(id, first values, second values)]; records present in only one list are ignored."""
    def values(record):
        return [record.get("cls_obs")] + list(record.get("cls_exp") or [])

    other = {record_id(r["key"], r["patch"]): r for r in second}
    differing = []
    for record in first:
        rid = record_id(record["key"], record["patch"])
        if rid not in other:
            continue
        a, b = values(record), values(other[rid])
        same = len(a) == len(b) and all(
            (x is None and y is None) or (x is not None and y is not None
                                          and math.isclose(x, y, rel_tol=rtol, abs_tol=atol))
            for x, y in zip(a, b)
        )
        if not same or record.get("status") != other[rid].get("status"):
            differing.append((rid, a, b))
    return differing
