"""The machinery of ``bench_utilization``: workloads run under the sampler, and the reading of them.

A workload (``Workload`` and its subclasses, by name in ``WORKLOADS``) is a
unit of pyhf work that ``measure_one`` runs repeatedly under
``support.monitor.Sampler`` for at least ``PYHF_BENCH_MONITOR_SECONDS``
(``settings.monitor_seconds``) after a warm-up call, writing its time series
(``events.jsonl``) to ``monitor.series_dir``; its PNG plots are drawn when the
pages are built (``pyhfbench.utilization_pages``), not here. ``measure_all``
is a setup_cache: every backend and device of a workload, each pair in a
Python process of its own (``measure_workload`` there: its own peak RSS and
CUDA context; a hang is killed at the timeout, not inherited by asv), into
one dict keyed by ``cache_key(backend, device, *extra)``. ``UtilizationTracks``
reads that dict back for the ``track_`` benchmarks; ``measure_overhead`` and
``OverheadFit`` are what the sampler costs a fit.

Nothing here is a benchmark (asv imports this module, but it has no
``time_``/``track_`` names): the benchmarks are in ``bench_utilization.py``
and ``bench_gpu_study.py``; ``scripts/monitor workload`` and ``overhead`` run
the same code from the host.
"""

import functools
import importlib.util
import itertools
import os
import statistics
import sys
import time

from ..common import BackendBenchmark, with_params
from . import backends, child, gpus, monitor, pyhf_compat, settings, skips
from .backends import PRECISIONS
from .suite import quick

#: Seconds one child process may take for all parameter combinations of a workload.
CHILD_TIMEOUT = 1200.0
#: A setup_cache's timeout: one child per backend and device.
CACHE_TIMEOUT = CHILD_TIMEOUT * 2 * len(backends.BACKENDS)

#: Likelihoods (pallets registry keys) per workload and device.
TOYS_LIKELIHOOD = {"cpu": "generated/small", "gpu": "generated/medium"}
LOGPDF_LIKELIHOOD = "generated/medium"
N_TOYS = {"cpu": 3, "gpu": 100}
BATCH_SIZES = [1, 100, 10000]
INTERPOLATION_CODES = ["0", "4p"]
#: (systematics, samples, bins, alpha values) of the interpolation problem per device.
INTERPOLATION_SIZES = {"cpu": (100, 10, 500, 20), "gpu": (100, 10, 1000, 100)}

#: Where the setup_cache says why there is no GPU here (None where there is one).
GPU_REASON_KEY = "gpu_reason"
#: ... and why a GPU that is there (or meant to be) cannot be reached: the GPU tracks fail.
GPU_TROUBLE_KEY = "gpu_trouble"

OVERHEAD_BINS = 50
OVERHEAD_ROUNDS = 5
OVERHEAD_CALLS = 4


def min_seconds():
    return settings.monitor_seconds()


def fit_likelihood(device):
    """generated/large, but on the CPU generated/small unless PYHF_BENCH_SIZE=full: a numpy fit
    of generated/large takes minutes (no autodiff)."""
    if device == "gpu" or settings.suite_size() == "full":
        return "generated/large"
    return "generated/small"


# --------------------------------------------------------------------------- workloads


def simple_model(n_bins):
    """(model, data) of an ``uncorrelated_background`` model with ``n_bins`` bins of varied content."""
    n = n_bins
    model = pyhf_compat.uncorrelated_background(
        [5.0 + (i % 7) for i in range(n)], [50.0 + (i % 13) for i in range(n)],
        [5.0 + (i % 5) for i in range(n)])
    return model, [55.0 + (i % 11) for i in range(n)] + model.config.auxdata


def load_model(likelihood, batch_size=None):
    """(model, data, label) of a pallet with its representative signal patch."""
    from . import pallets

    patch = pallets.signal_patch(likelihood)
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    model, data = pallets.load_model(likelihood, patch, **kwargs)
    return model, data, pallets.label(likelihood, patch)


class Workload(BackendBenchmark):
    """A unit of work run repeatedly under the sampler. Not a benchmark (no asv prefix)."""

    name = None
    extra_names = []
    extra_params = []

    def prepare(self, backend, device, *extra):
        BackendBenchmark.setup(self, backend, device)
        self.device = device
        self.description = {}

    def call(self):
        raise NotImplementedError

    def warm_up(self):
        """What to run once before sampling (imports, JIT compilation, first allocations)."""
        self.call()


class FitWorkload(Workload):
    name = "fit"

    def prepare(self, backend, device):
        super().prepare(backend, device)
        self.model, data, source = load_model(fit_likelihood(device))
        self.data = self.tensorlib.astensor(data)
        self.description = {"model": source, "parameters": self.model.config.npars}

    def call(self):
        import pyhf

        return self.wait(pyhf.infer.mle.fit(self.data, self.model))


class ToysWorkload(Workload):
    name = "toys"

    def prepare(self, backend, device):
        super().prepare(backend, device)
        import pyhf.infer.calculators

        self.model, data, source = load_model(TOYS_LIKELIHOOD[device])
        self.data = self.tensorlib.astensor(data)
        self.ntoys = N_TOYS[device]
        self.calculator = pyhf.infer.calculators.ToyCalculator(
            self.data, self.model, ntoys=self.ntoys, track_progress=False,
            **pyhf_compat.test_stat_kwargs("qtilde"))
        self.description = {"model": source, "ntoys": self.ntoys}

    def warm_up(self):
        # One fit compiles what the toys' fits use; a whole call would double the CPU time.
        import pyhf

        self.wait(pyhf.infer.mle.fit(self.data, self.model))

    def call(self):
        # Throws and fits the toys of both hypotheses; no percentiles (NumPy 2 safe).
        sig, bkg = self.calculator.distributions(1.0)
        return self.wait(sig.samples)


class LogpdfWorkload(Workload):
    name = "logpdf"
    extra_names = ["precision", "batch_size"]
    extra_params = [list(PRECISIONS), BATCH_SIZES]

    def prepare(self, backend, device, precision, batch_size):
        self.precision = precision
        super().prepare(backend, device)
        self.model, data, source = load_model(LOGPDF_LIKELIHOOD, batch_size=int(batch_size))
        self.data = self.tensorlib.astensor(data)
        self.pars = self.tensorlib.astensor([self.model.config.suggested_init()] * int(batch_size))
        self.description = {"model": source, "batch_size": int(batch_size), "precision": precision}

    def call(self):
        return self.wait(self.model.logpdf(self.pars, self.data))


class InterpolationWorkload(Workload):
    name = "interpolation"
    extra_names = ["code"]
    extra_params = [INTERPOLATION_CODES]

    def prepare(self, backend, device, code):
        import numpy as np

        super().prepare(backend, device)
        n_sys, n_samples, n_bins, n_alphas = INTERPOLATION_SIZES[device]
        rng = np.random.default_rng(0)
        nominal = rng.uniform(10.0, 100.0, size=(n_sys, n_samples, n_bins))
        up = nominal * (1.0 + rng.uniform(0.01, 0.3, size=nominal.shape))
        down = nominal * (1.0 - rng.uniform(0.01, 0.3, size=nominal.shape))
        histogramssets = np.stack([down, nominal, up], axis=2).tolist()
        self.alphas = self.tensorlib.astensor(rng.uniform(-2.0, 2.0, size=(n_sys, n_alphas)).tolist())
        code = int(code) if code.isdigit() else code
        self.interpolator = pyhf_compat.interpolator(code)(histogramssets, subscribe=False)
        self.description = {"code": str(code), "size": [n_sys, n_samples, n_bins, n_alphas],
                            "model": f"{n_sys} systematics x {n_samples} samples x {n_bins} bins,"
                                     f" {n_alphas} alphas"}

    def call(self):
        return self.wait(self.interpolator(self.alphas))


#: Workloads by name; bench_gpu_study adds its own (the child process imports it too).
WORKLOADS = {w.name: w for w in (FitWorkload, ToysWorkload, LogpdfWorkload, InterpolationWorkload)}


def workload_params(workload):
    """asv ``params`` and ``param_names`` of a workload's tracks: backend, device, its own."""
    spec = WORKLOADS[workload]
    return with_params(BackendBenchmark, spec.extra_names, spec.extra_params)


# --------------------------------------------------------------------------- measuring


def series_name(workload, backend, device, extra=()):
    return "-".join([workload, backend, device] + [str(e) for e in extra])


def measure_one(workload, backend, device, extra=(), seconds=None, interval=None, events_dir=None):
    """Run one workload under the sampler in this process: {"status": ..., "summary"/"reason"}."""
    seconds = min_seconds() if seconds is None else seconds
    bench = WORKLOADS[workload]()
    try:
        bench.prepare(backend, device, *extra)
    except NotImplementedError as err:
        return {"status": "skip", "reason": str(err)}
    bench.warm_up()
    name = series_name(workload, backend, device, extra)
    if events_dir is None:
        events_dir = monitor.series_dir(name)
    events_path = None if events_dir is None else os.path.join(events_dir, monitor.EVENTS_FILE)
    meta = {"workload": workload, "backend": backend, "device": device,
            "params": [str(e) for e in extra], "commit": os.environ.get("ASV_COMMIT"),
            "env": os.environ.get("ASV_ENV_NAME"), **bench.description}
    sampler = monitor.Sampler(interval=interval, events_path=events_path, meta=meta)
    calls = 0
    with sampler:
        start = time.perf_counter()
        while True:
            bench.call()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
    summary = sampler.summary()
    summary.update(calls=calls, seconds_per_call=elapsed / calls, workload=meta,
                   series=None if events_dir is None else str(events_dir))
    return {"status": "ok", "summary": summary}


def measure_workload(workload, backend, device, seconds=None, interval=None):
    """Every extra-parameter combination of ``workload`` on one backend and device (run in a child)."""
    spec = WORKLOADS[workload]
    results = []
    for extra in itertools.product(*spec.extra_params):
        try:
            results.append(measure_one(workload, backend, device, extra, seconds, interval))
        except Exception as err:
            results.append({"status": "error", "reason": f"{type(err).__name__}: {err}"})
    return {"status": "ok", "results": results}


def cache_key(*params):
    return "|".join(str(p) for p in params)


def precheck(backend, device, gpu_reason):
    """Why (backend, device) cannot be measured here, found without starting a process; or None.

    On ``gpu``: numpy's reason first (true on any machine), then NVML's (no GPU here).
    """
    if importlib.util.find_spec("psutil") is None:
        return "psutil is not installed in this environment: nothing can be sampled"
    if device == "gpu":
        if backend == "numpy":
            return "the numpy backend runs on the CPU only"
        if gpu_reason:
            return gpu_reason
    try:
        pyhf_compat.require_backend(backend)
    except NotImplementedError as err:
        return str(err)
    return None


def measure_all(workload, backend_names=None):
    """setup_cache of a workload: every backend, device and extra parameter, one child per pair.

    ``backend_names`` limits the backends measured (the others are left out of the cache).
    """
    spec = WORKLOADS[workload]
    extras = list(itertools.product(*spec.extra_params))
    # NVML is opened here, in asv's spawned setup_cache process, never at import.
    try:
        gpu_reason, gpu_trouble = gpus.gpu_unavailable_reason(), None
    except gpus.GpuTrouble as err:  # the CPU tracks are still measured
        gpu_reason, gpu_trouble = None, str(err)
    cache = {GPU_REASON_KEY: gpu_reason, GPU_TROUBLE_KEY: gpu_trouble}
    for backend, device in itertools.product(backend_names or backends.BACKENDS, backends.DEVICES):
        reason = precheck(backend, device, gpu_reason)
        if device == "gpu" and gpu_trouble:
            entries = [{"status": "error", "reason": gpu_trouble, "stderr": ""}] * len(extras)
        elif reason is not None:
            entries = [{"status": "skip", "reason": reason}] * len(extras)
        else:
            outcome = child.run_in_child(
                f"{__name__.split('.', 1)[1]}:measure_workload",
                {"workload": workload, "backend": backend, "device": device},
                timeout=CHILD_TIMEOUT)
            entries = outcome.get("results") or [outcome] * len(extras)
        for extra, entry in zip(extras, entries):
            cache[cache_key(backend, device, *extra)] = entry
    return cache


def measuring(setup_cache):
    """A ``measure_all`` setup_cache, with the timeout asv reads from the function."""
    setup_cache.timeout = CACHE_TIMEOUT
    return setup_cache


# --------------------------------------------------------------------------- reading it


class CachedTracks(BackendBenchmark):
    """Tracks that read one workload's measurements out of a setup_cache (``measure_all``'s)."""

    workload = None
    version = "1"
    timeout = CHILD_TIMEOUT * 2

    def setup(self, cache, backend, device, *extra):
        self.combination = (backend, device, *extra)
        entry = cache.get(cache_key(backend, device, *extra))
        if entry is None:
            raise NotImplementedError("not measured by setup_cache")
        if entry["status"] == "skip":
            raise NotImplementedError(entry["reason"])
        self.entry = entry

    def skip(self, reason):
        skips.skip(reason, self, self.combination)

    def summary(self):
        if self.entry["status"] != "ok":
            sys.stderr.write(self.entry.get("stderr") or "")
            raise RuntimeError(f"the {self.workload} workload failed: {self.entry['reason']}")
        summary = self.entry["summary"]
        for note in summary["notes"]:
            print(f"monitor note: {note}", file=sys.stderr)
        return summary


class UtilizationTracks(CachedTracks):
    """The reading of bench_utilization's tracks: process CPU and memory on both devices, the
    GPU's figures on device ``gpu`` only (n/a on ``cpu``, with the reason)."""

    def setup(self, cache, backend, device, *extra):
        if device == "gpu" and cache.get(GPU_TROUBLE_KEY):
            raise gpus.GpuTrouble(cache[GPU_TROUBLE_KEY])  # a failure, not n/a
        super().setup(cache, backend, device, *extra)
        self.device = device

    def cpu_value(self, key, scale=1.0):
        value = self.summary()["cpu"][key]
        if value is None:
            self.skip(f"psutil gave no {key}")
        return value / scale

    def gpu_value(self, key, scale=1.0):
        if self.device != "gpu":
            self.skip("GPU figures are measured on device gpu only")
        summary = self.summary()
        gpu = summary.get("gpu")
        if not gpu:
            self.skip(summary.get("gpu_reason") or "no GPU was sampled")
        if gpu["lost"] or summary.get("gpu_errors"):
            # A GPU that stops answering is a broken GPU, not a figure (nor n/a).
            why = "; ".join(summary.get("gpu_errors") or []) or "; ".join(
                n for n in summary["notes"] if "stopped answering NVML" in n)
            raise gpus.gpu_trouble(f"GPU(s) {gpu['lost']} lost mid-run: {why}")
        value = gpu[key]
        if value is None:
            self.skip(f"NVML gave no {key} here (not supported, not attributable, or no sample)")
        return value / scale


def quick_variant(track, **values):
    """``track`` in the quick suite with these values (``suite.quick``), leaving ``track`` as it was:
    a subclass's quick declaration of a track it inherits."""

    @functools.wraps(track)
    def variant(self, *params):
        return track(self, *params)

    return quick(**values)(variant)


# --------------------------------------------------------------------------- sampler overhead


class OverheadFit(BackendBenchmark):
    """A fit of a 50-bin simple model: Python-heavy, so it feels the sampler's share of the GIL."""

    def setup_once(self, backend, device, *params):
        if importlib.util.find_spec("psutil") is None:
            raise NotImplementedError("psutil is not installed in this environment")
        self.model, data = simple_model(OVERHEAD_BINS)
        self.data = self.tensorlib.astensor(data)
        self.fit()  # warm-up

    def sample_call(self):
        self.fit()

    def fit(self):
        import pyhf

        return self.wait(pyhf.infer.mle.fit(self.data, self.model))


def measure_overhead(fit, rounds=OVERHEAD_ROUNDS, calls=OVERHEAD_CALLS, interval=None):
    """Alternate blocks of ``calls`` calls of ``fit`` without and with a sampler running.

    Returns {"off_s", "on_s" (median seconds per call), "overhead_percent",
    "ms_per_sample" (sampler CPU time per sample), "samples", "interval_s"}.
    """
    off, on, costs, samples = [], [], [], 0
    for _ in range(rounds):
        for _ in range(calls):
            start = time.perf_counter()
            fit()
            off.append(time.perf_counter() - start)
        sampler = monitor.Sampler(interval=interval).start()
        for _ in range(calls):
            start = time.perf_counter()
            fit()
            on.append(time.perf_counter() - start)
        summary = sampler.stop()
        samples += summary["samples"]
        if summary["sampler_ms_per_sample"] is not None:
            costs.append(summary["sampler_ms_per_sample"])
    off_s, on_s = statistics.median(off), statistics.median(on)
    return {"off_s": off_s, "on_s": on_s, "overhead_percent": 100.0 * (on_s / off_s - 1.0),
            "ms_per_sample": statistics.median(costs) if costs else None,
            "samples": samples, "calls": len(off), "interval_s": sampler.interval}
