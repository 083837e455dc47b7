"""Pallet scans: patches per second and speedup of the per-patch hypotests on 1 and N workers.

The workflow of the funcX/pyhf paper on a quick subset: 8 sbottom RegionB
patches spread over the mass plane, each the published per-patch task
(``benchmarks/support/scan.py``: build the model, ``hypotest`` at POI 1 with
qtilde and the expected band), run by local processes and by a Dask
``LocalCluster`` of process workers, with 1 and N = min(cores, 8) workers.
The workers are started and warmed (pyhf imported, pallet parsed) before the
clock starts, so the figures are the scan's steady state.

Every configuration is measured once, in ``setup_cache``, so that the
speedup compares runs of the same environment taken one after the other:

* ``track_patches_per_second``: patches done per second of wall time;
* ``track_speedup``: patches per second over those with 1 worker of the same executor;
* ``track_parallel_capacity``: the speedup N copies of a fixed CPU-bound
  reference get over one, measured just before and just after the scan (the
  mean; on a shared or small machine far below N: cores are not what they seem);
* ``track_efficiency_vs_capacity``: speedup / capacity.

The last three are 1 by construction for one worker, so they are measured
for N workers only (n/a for one).

The Dask rows need ``distributed`` in the environment (skipped, n/a, otherwise).
"""

import os

from .support import pallets, scan, skips, threads, tracks
from .support.skips import RecordsSkips

SCAN_KEY = "sbottom/RegionB"
SCAN_PATCHES = 8
WORKER_COUNTS = sorted({1, max(1, min(os.cpu_count() or 1, SCAN_PATCHES))})
SCAN_EXECUTORS = ["processes", "dask"]


def scan_subset():
    """The quick subset: SCAN_PATCHES patches of SCAN_KEY spread over its list."""
    return scan.select_tasks([SCAN_KEY], sample=SCAN_PATCHES)


def measure_scan(executor, workers):
    """One warm scan of the subset; a dict of figures, or the reason it cannot run here."""
    if executor == "dask":
        scan.require_dask()
    if not pallets.obtainable("sbottom"):
        raise NotImplementedError("the sbottom pallet cannot be obtained here (no cache, mirror or URL)")
    tasks = scan_subset()
    blas_threads = threads.configured_threads()
    with scan.open_executor(executor, workers, "numpy", blas_threads, [SCAN_KEY]) as info:
        before = scan.calibrate(info.executor, info.workers, repeats=2)
        summary = scan.run_scan(tasks, info.executor, None, backend="numpy",
                                blas_threads=blas_threads, workers=info.workers,
                                executor_label=info.label)
        after = scan.calibrate(info.executor, info.workers, repeats=2)
    calibration = scan.combine_calibrations(before, after)
    failed = [r for r in summary["records"] if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} patches failed: {failed[0].get('error')}")
    return {"patches_per_s": summary["patches_per_s"], "wall_s": summary["wall_s"],
            "capacity": calibration["capacity"], "patches": summary["patches"]}


class PalletScan(RecordsSkips):
    """A scan of 8 sbottom RegionB patches with local processes and Dask, 1 and N workers."""

    params = [SCAN_EXECUTORS, WORKER_COUNTS]
    param_names = ["executor", "workers"]
    version = "1"
    timeout = 1800

    def setup_cache(self):
        figures = {}
        for executor in SCAN_EXECUTORS:
            for workers in WORKER_COUNTS:
                try:
                    figures[f"{executor}-{workers}"] = measure_scan(executor, workers)
                except NotImplementedError as err:
                    figures[f"{executor}-{workers}"] = f"skipped: {err}"
        return figures

    setup_cache.timeout = 1800

    def setup(self, figures, executor, workers):
        found = figures[f"{executor}-{workers}"]
        if isinstance(found, str):
            raise NotImplementedError(found)
        self.figures = found
        self.single = figures[f"{executor}-1"]

    def require_parallel(self, executor, workers):
        if workers == 1:
            # In the body (not setup): patches per second is still measured for one worker.
            skips.skip("1 by construction for one worker", self, (executor, workers))

    @tracks.measurement("patches/s", better="higher")
    def track_patches_per_second(self, figures, executor, workers):
        return self.figures["patches_per_s"]

    @tracks.measurement("x", better="higher")
    def track_speedup(self, figures, executor, workers):
        self.require_parallel(executor, workers)
        return self.figures["patches_per_s"] / self.single["patches_per_s"]

    @tracks.measurement("x", better="higher")
    def track_parallel_capacity(self, figures, executor, workers):
        self.require_parallel(executor, workers)
        return self.figures["capacity"]

    @tracks.measurement("fraction", better="higher")
    def track_efficiency_vs_capacity(self, figures, executor, workers):
        return self.track_speedup(figures, executor, workers) / self.figures["capacity"]
