"""The GPU study: batched ``logpdf`` against batch size, 1 to 10^6, in 32b and 64b.

Per backend, device, precision and batch size, one measurement under the
utilization sampler (``support.utilization.measure_one``: warm-up, then at
least ``PYHF_BENCH_MONITOR_SECONDS``) gives the throughput (parameter points
per second), and on a GPU its mean utilization and memory-controller busy %.
``PrecisionRatio`` tracks FP64 throughput over FP32 at each batch size.
All points of a backend and device run in one child process, so a GPU
context is made once. ``scripts/gpu-study-page`` draws the plots and the docs
page from the stored results.

The model is ``generated/small`` (6 bins, 3 samples): at 10^6 points each
64b tensor of the batch is under 1 GiB, so the largest batch fits on one GPU.
On the CPU batches above CPU_MAX_BATCH are skipped: the CPU side is for comparison,
and each point costs the sampling time on every backend in every whole-suite run. On a
host without a GPU there is nothing to compare with, and bench_model.BatchedLogpdf times
the same batched logpdf at the same batch sizes and precisions: the CPU points are n/a
there (CPU_ONLY_HOST), unless PYHF_BENCH_STUDY_DEVICES names ``cpu``.
"""

import itertools

from .support.utilization import (CHILD_TIMEOUT, GPU_REASON_KEY, GPU_TROUBLE_KEY, WORKLOADS,
                                  CachedTracks, UtilizationTracks, Workload, cache_key, measure_one,
                                  precheck)
from .common import BackendBenchmark, with_params
from .support import backends, child, gpus, pallets, settings, suite, tracks
from .support.backends import PRECISIONS
from .support.suite import quick

STUDY_LIKELIHOOD = "generated/small"
BATCH_SIZES = [10**k for k in range(7)]
CPU_MAX_BATCH = 10**3
CPU_ONLY_HOST = ("the study's CPU points are its comparison for a GPU, and this host has none "
                 "(bench_model.BatchedLogpdf times batched logpdf here); "
                 "PYHF_BENCH_STUDY_DEVICES=cpu measures them")
WORKLOAD = "logpdf_scaling"


class LogpdfScalingWorkload(Workload):
    name = WORKLOAD
    extra_names = ["precision", "batch_size"]
    extra_params = [list(PRECISIONS), BATCH_SIZES]

    def prepare(self, backend, device, precision, batch_size):
        import numpy as np

        batch_size = int(batch_size)
        if device == "cpu" and batch_size > CPU_MAX_BATCH:
            raise NotImplementedError(f"batch sizes above {CPU_MAX_BATCH} are for the GPU "
                                      "(minutes per call on a CPU)")
        self.precision = precision
        super().prepare(backend, device)
        patch = pallets.signal_patch(STUDY_LIKELIHOOD)
        self.model, data = pallets.load_model(STUDY_LIKELIHOOD, patch, batch_size=batch_size)
        self.data = self.tensorlib.astensor(data)
        init = np.asarray(self.model.config.suggested_init(), dtype=float)
        self.pars = self.tensorlib.astensor(np.tile(init, (batch_size, 1)))
        self.batch_size = batch_size
        self.description = {"model": pallets.label(STUDY_LIKELIHOOD, patch),
                            "batch_size": batch_size, "precision": precision}

    def call(self):
        return self.wait(self.model.logpdf(self.pars, self.data))


# The child process imports this module, so the workload is known to measure_one there.
WORKLOADS[WORKLOAD] = LogpdfScalingWorkload


def measure_study(backend, device, seconds=None, batch_sizes=None, precisions=None):
    """Every precision and batch size on one backend and device (run in a child process)."""
    results = {}
    for precision, batch in itertools.product(precisions or PRECISIONS, batch_sizes or BATCH_SIZES):
        try:
            entry = measure_one(WORKLOAD, backend, device, (precision, batch), seconds)
        except Exception as err:  # out of memory at a large batch, a framework error: that point
            entry = {"status": "error", "reason": f"{type(err).__name__}: {err}"}
        if entry["status"] == "ok":
            entry["summary"]["points_per_second"] = batch / entry["summary"]["seconds_per_call"]
        results[cache_key(precision, batch)] = entry
    return {"status": "ok", "results": results}


def measure_all(backend_names=None, devices=None, batch_sizes=None, precisions=None,
                cpu_without_gpu=False):
    """setup_cache: every backend and device, one child each (its own GPU context); the
    CPU points on a host without a GPU only with ``cpu_without_gpu``."""
    try:
        gpu_reason, gpu_trouble = gpus.gpu_unavailable_reason(), None
    except gpus.GpuTrouble as err:
        gpu_reason, gpu_trouble = None, str(err)
    cache = {GPU_REASON_KEY: gpu_reason, GPU_TROUBLE_KEY: gpu_trouble}
    points = list(itertools.product(precisions or PRECISIONS, batch_sizes or BATCH_SIZES))
    for backend, device in itertools.product(backend_names or backends.BACKENDS,
                                             devices or backends.DEVICES):
        reason = precheck(backend, device, gpu_reason)
        if device == "cpu" and gpu_reason and not cpu_without_gpu:
            reason = reason or CPU_ONLY_HOST
        if device == "gpu" and gpu_trouble:
            outcome = {p: {"status": "error", "reason": gpu_trouble} for p in points}
        elif reason is not None:
            outcome = {p: {"status": "skip", "reason": reason} for p in points}
        else:
            measured = child.run_in_child(f"{__name__.split('.', 1)[1]}:measure_study",
                                          {"backend": backend, "device": device,
                                           "batch_sizes": batch_sizes, "precisions": precisions},
                                          timeout=CHILD_TIMEOUT)
            found = measured.get("results") or {}
            outcome = {p: found.get(cache_key(*p), measured) for p in points}
        for (precision, batch), entry in outcome.items():
            cache[cache_key(backend, device, precision, batch)] = entry
    return cache


#: Limits of the study's setup_cache (comma lists; unset: everything), for prepared runs
#: such as scripts/gpu-acceptance: a combination left out is n/a ("not measured").
BACKENDS_ENV, DEVICES_ENV, BATCH_SIZES_ENV = (
    settings.STUDY_BACKENDS, settings.STUDY_DEVICES, settings.STUDY_BATCH_SIZES)
_listed = settings.listed


def _study_cache(self):
    # In a quick-suite run, only the quick suite's points (each costs seconds of sampling).
    quick = suite.quick_limits(BatchScaling, "track_throughput")
    return measure_all(_listed(BACKENDS_ENV) or quick.get("backend"),
                       _listed(DEVICES_ENV) or quick.get("device"),
                       _listed(BATCH_SIZES_ENV, int) or quick.get("batch_size"),
                       quick.get("precision"),
                       "cpu" in (_listed(DEVICES_ENV) or ()))  # cpu_without_gpu


_study_cache.timeout = CHILD_TIMEOUT * 2 * len(backends.BACKENDS)


class BatchScaling(UtilizationTracks):
    """Throughput of batched ``logpdf`` by batch size and precision, and on a GPU how busy it is."""

    workload = WORKLOAD
    setup_cache = _study_cache
    params, param_names = with_params(BackendBenchmark, ["precision", "batch_size"],
                                      [list(PRECISIONS), BATCH_SIZES])

    @quick(backend=["numpy"], device=["cpu"], precision=["64b"], batch_size=[1, 1000])
    # Wall-time based: up to 27 % apart between two runs of identical code on a shared
    # 2-core VM (docs/nightly-verdicts.md).
    @tracks.measurement("points/s", better="higher", threshold=0.4)
    def track_throughput(self, *params):
        return self.summary()["points_per_second"]

    @tracks.measurement("%", better="higher", floor=5)
    def track_gpu_utilization(self, *params):
        return self.gpu_value("util_mean")

    @tracks.measurement("%", better="higher", floor=5)
    def track_gpu_memory_busy(self, *params):
        return self.gpu_value("mem_busy_mean")


class PrecisionRatio(CachedTracks):
    """FP64 throughput over FP32 throughput of batched ``logpdf`` at each batch size."""

    workload = WORKLOAD
    setup_cache = _study_cache
    params, param_names = with_params(BackendBenchmark, ["batch_size"], [BATCH_SIZES])

    def setup(self, cache, backend, device, batch_size):
        self.entries = []
        for precision in ("64b", "32b"):
            super().setup(cache, backend, device, precision, batch_size)
            self.entries.append(self.entry)

    @tracks.measurement("FP64/FP32", better="higher")
    def track_fp64_over_fp32_throughput(self, *params):
        rates = []
        for entry in self.entries:
            self.entry = entry
            rates.append(self.summary()["points_per_second"])
        return rates[0] / rates[1]
