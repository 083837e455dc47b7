"""How hard the hardware works while pyhf runs: GPU and CPU utilization as asv tracks.

Four representative workloads, per backend and device:

* ``fit``: maximum-likelihood fits on a large pallet (``generated/large``; on
  the CPU ``generated/small`` unless ``PYHF_BENCH_SIZE=full``, since a numpy
  fit of the large one takes minutes);
* ``toys``: toy-based test-statistic distributions (3 toys per hypothesis on
  ``generated/small`` on the CPU, 100 on ``generated/medium`` on the GPU);
* ``logpdf``: batched ``logpdf`` of ``generated/medium`` by precision (32b,
  64b) and batch size (1, 100, 10000);
* ``interpolation``: the tensorized interpolators (codes 0 and 4p) at large sizes.

The models come from ``support.pallets`` with their representative signal
patch; the generated ones need no download.

Each one runs under ``support.monitor.Sampler`` for at least
``PYHF_BENCH_MONITOR_SECONDS`` (default 2) after a warm-up call, in a Python
process of its own started by ``setup_cache`` (its own peak RSS and CUDA
context; a hang is killed at the timeout, not inherited by asv). The CPU
classes (``*CpuUtilization``) and the GPU classes (``*GpuUtilization``) of a
workload share one ``setup_cache`` function, so asv measures it once and
both read the same summary:

* CPU tracks: mean process CPU % (100 = one core) and peak RSS;
* GPU tracks (device ``gpu``): mean and peak GPU utilization, peak GPU memory
  used, mean memory-controller busy %, and the peak GPU memory NVML
  attributes to the workload's process.

Where there is no NVIDIA GPU, NVML's reason is the skip reason of the GPU
tracks; the CPU tracks run. The time series of every measurement
(``events.jsonl`` and PNG plots) go to
``<results_dir>/<machine>/utilization/<commit>/<workload>-<params>/``
(see ``support.monitor.series_dir``); ``scripts/monitor pages`` adds them
to the published dashboard.

``SamplerOverhead`` times a fit with the sampler off and on, and
``SamplerCost`` tracks the difference in % and the sampler's CPU time per
sample: what watching costs the watched.
"""

import importlib.util
import itertools
import os
import statistics
import sys
import time

from .common import SUITE_SIZE, BackendBenchmark, with_params
from .support import backends, monitor, pyhf_compat, suite, tracks
from .support.backends import PRECISIONS

MIN_SECONDS_ENV = "PYHF_BENCH_MONITOR_SECONDS"
DEFAULT_MIN_SECONDS = 2.0
#: Seconds one child process may take for all parameter combinations of a workload.
CHILD_TIMEOUT = 1200.0

#: Likelihoods (pallets registry keys) per workload and device; the CPU gets smaller ones
#: unless PYHF_BENCH_SIZE=full (a numpy fit of generated/large takes minutes: no autodiff).
FIT_LIKELIHOOD = {"cpu": "generated/large" if SUITE_SIZE == "full" else "generated/small",
                  "gpu": "generated/large"}
TOYS_LIKELIHOOD = {"cpu": "generated/small", "gpu": "generated/medium"}
LOGPDF_LIKELIHOOD = "generated/medium"
N_TOYS = {"cpu": 3, "gpu": 100}
BATCH_SIZES = [1, 100, 10000]
INTERPOLATION_CODES = ["0", "4p"]
#: (systematics, samples, bins, alpha values) of the interpolation problem per device.
INTERPOLATION_SIZES = {"cpu": (100, 10, 500, 20), "gpu": (100, 10, 1000, 100)}


def min_seconds():
    value = os.environ.get(MIN_SECONDS_ENV, str(DEFAULT_MIN_SECONDS))
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(f"{MIN_SECONDS_ENV} must be a number of seconds, got {value!r}") from None


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
    from .support import pallets

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
        self.model, data, source = load_model(FIT_LIKELIHOOD[device])
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


WORKLOADS = {w.name: w for w in (FitWorkload, ToysWorkload, LogpdfWorkload, InterpolationWorkload)}


def series_name(workload, backend, device, extra=()):
    return "-".join([workload, backend, device] + [str(e) for e in extra])


def measure_one(workload, backend, device, extra=(), seconds=None, interval=None, events_dir=None,
                plots=True):
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
    if events_path is not None and plots:
        try:
            from .support import monitor_plots

            summary["plots"] = [str(p) for p in monitor_plots.draw_plots(events_path)]
        except ImportError as err:
            summary["notes"].append(f"no plots: {err}")
        except Exception as err:
            summary["notes"].append(f"plots failed: {type(err).__name__}: {err}")
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


#: Where the setup_cache says why there is no GPU here (None where there is one).
GPU_REASON_KEY = "gpu_reason"
#: ... and why a GPU that is there (or meant to be) cannot be reached: the GPU tracks fail.
GPU_TROUBLE_KEY = "gpu_trouble"


def cache_key(*params):
    return "|".join(str(p) for p in params)


def precheck(backend, device, gpu_reason):
    """Why (backend, device) cannot be measured here, found without starting a process; or None.

    On ``gpu`` NVML's reason comes first: on a machine without a GPU that is the reason.
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
        gpu_reason, gpu_trouble = monitor.gpu_unavailable_reason(), None
    except monitor.GpuTrouble as err:  # the CPU tracks are still measured
        gpu_reason, gpu_trouble = None, str(err)
    cache = {GPU_REASON_KEY: gpu_reason, GPU_TROUBLE_KEY: gpu_trouble}
    for backend, device in itertools.product(backend_names or backends.BACKENDS, backends.DEVICES):
        reason = precheck(backend, device, gpu_reason)
        if device == "gpu" and gpu_trouble:
            entries = [{"status": "error", "reason": gpu_trouble, "stderr": ""}] * len(extras)
        elif reason is not None:
            entries = [{"status": "skip", "reason": reason}] * len(extras)
        else:
            outcome = monitor.run_in_child(
                f"{__name__.split('.', 1)[1]}:measure_workload",
                {"workload": workload, "backend": backend, "device": device},
                timeout=CHILD_TIMEOUT)
            entries = outcome.get("results") or [outcome] * len(extras)
        for extra, entry in zip(extras, entries):
            cache[cache_key(backend, device, *extra)] = entry
    return cache


def _skip(reason):
    """Skip from inside a benchmark (asv: n/a), printing the reason as asv does for setup."""
    print(f"asv: skipped: {reason}")
    try:
        from asv_runner.benchmarks.mark import SkipNotImplemented
    except ImportError:
        raise NotImplementedError(reason) from None
    raise SkipNotImplemented(reason)


# --------------------------------------------------------------------------- the tracks


class _Tracks(BackendBenchmark):
    """Reads one workload's measurements out of the setup_cache; the subclasses are the tracks."""

    workload = None
    version = "1"
    timeout = CHILD_TIMEOUT * 2

    def setup(self, cache, backend, device, *extra):
        entry = cache.get(cache_key(backend, device, *extra))
        if entry is None:
            raise NotImplementedError("not measured by setup_cache")
        if entry["status"] == "skip":
            raise NotImplementedError(entry["reason"])
        self.entry = entry

    def summary(self):
        if self.entry["status"] != "ok":
            sys.stderr.write(self.entry.get("stderr") or "")
            raise RuntimeError(f"the {self.workload} workload failed: {self.entry['reason']}")
        summary = self.entry["summary"]
        for note in summary["notes"]:
            print(f"monitor note: {note}", file=sys.stderr)
        return summary


class _CpuTracks(_Tracks):
    def cpu_value(self, key):
        value = self.summary()["cpu"][key]
        if value is None:
            _skip(f"psutil gave no {key}")
        return value

    # Load from other processes moves it: 152 -> 95 and 53 -> 110 between two whole-suite
    # runs of identical code on a 2-core VM (docs/nightly-verdicts.md). Only a collapse counts.
    @tracks.measurement("% of one core", better="higher", threshold=0.6, floor=50)
    def track_cpu_percent(self, *params):
        return self.cpu_value("cpu_percent_mean")

    @tracks.measurement("MiB", better="lower")
    def track_peak_rss(self, *params):
        return self.cpu_value("rss_peak") / monitor.MIB


class _GpuTracks(_Tracks):
    def setup(self, cache, backend, device, *extra):
        if cache.get(GPU_TROUBLE_KEY):
            raise monitor.GpuTrouble(cache[GPU_TROUBLE_KEY])  # a failure, not n/a
        if cache.get(GPU_REASON_KEY):
            # No NVIDIA GPU here: that is the reason for every GPU track, numpy's too.
            raise NotImplementedError(cache[GPU_REASON_KEY])
        super().setup(cache, backend, device, *extra)
        summary = self.entry.get("summary") or {}
        if self.entry["status"] == "ok" and not summary.get("gpu"):
            raise NotImplementedError(summary.get("gpu_reason") or "no GPU was sampled")

    def gpu_value(self, key, scale=1.0):
        summary = self.summary()
        gpu = summary["gpu"]
        if gpu["lost"] or summary.get("gpu_errors"):
            # A GPU that stops answering is a broken GPU, not a figure (nor n/a).
            why = "; ".join(summary.get("gpu_errors") or []) or "; ".join(
                n for n in summary["notes"] if "stopped answering NVML" in n)
            raise monitor.gpu_trouble(f"GPU(s) {gpu['lost']} lost mid-run: {why}")
        value = gpu[key]
        if value is None:
            _skip(f"NVML gave no {key} here (not supported, not attributable, or no sample)")
        return value / scale

    @tracks.measurement("%", better="higher", floor=5)
    def track_gpu_utilization_mean(self, *params):
        return self.gpu_value("util_mean")

    @tracks.measurement("%", better="higher", floor=5)
    def track_gpu_utilization_peak(self, *params):
        return self.gpu_value("util_peak")

    @tracks.measurement("%", better="higher", floor=5)
    def track_gpu_memory_busy(self, *params):
        return self.gpu_value("mem_busy_mean")

    @tracks.measurement("MiB", better="lower")
    def track_gpu_memory_peak(self, *params):
        return self.gpu_value("mem_used_peak", monitor.MIB)

    @tracks.measurement("MiB", better="lower")
    def track_gpu_process_memory_peak(self, *params):
        return self.gpu_value("proc_mem_peak", monitor.MIB)


def _gpu_params(workload):
    spec = WORKLOADS[workload]
    return [list(backends.BACKENDS), ["gpu"]] + spec.extra_params, ["backend", "device"] + spec.extra_names


def _cpu_params(workload):
    spec = WORKLOADS[workload]
    return with_params(BackendBenchmark, spec.extra_names, spec.extra_params)


# One setup_cache function per workload: asv keys caches by function, so the CPU
# and the GPU class of a workload share one measurement.
def _fit_cache(self):
    # The quick suite's fit tracks (FitCpuUtilization) take one backend.
    return measure_all("fit", suite.quick_limits(FitCpuUtilization, "track_cpu_percent").get("backend"))


def _toys_cache(self):
    return measure_all("toys")


def _logpdf_cache(self):
    return measure_all("logpdf")


def _interpolation_cache(self):
    return measure_all("interpolation")


for _cache in (_fit_cache, _toys_cache, _logpdf_cache, _interpolation_cache):
    _cache.timeout = CHILD_TIMEOUT * 2 * len(backends.BACKENDS)


class FitCpuUtilization(_CpuTracks):
    """Process CPU % and peak RSS of maximum-likelihood fits on a large pallet."""

    workload = "fit"
    params, param_names = _cpu_params("fit")
    setup_cache = _fit_cache
    quick_params = {"backend": ["numpy"], "device": ["cpu"]}


class FitGpuUtilization(_GpuTracks):
    """GPU utilization, memory and memory-controller load of fits on a large pallet."""

    workload = "fit"
    params, param_names = _gpu_params("fit")
    setup_cache = _fit_cache


class ToysCpuUtilization(_CpuTracks):
    """Process CPU % and peak RSS while toys are thrown and fitted."""

    workload = "toys"
    params, param_names = _cpu_params("toys")
    setup_cache = _toys_cache


class ToysGpuUtilization(_GpuTracks):
    """GPU load while toys are thrown and fitted."""

    workload = "toys"
    params, param_names = _gpu_params("toys")
    setup_cache = _toys_cache


class LogpdfCpuUtilization(_CpuTracks):
    """Process CPU % and peak RSS of batched logpdf by precision and batch size."""

    workload = "logpdf"
    params, param_names = _cpu_params("logpdf")
    setup_cache = _logpdf_cache


class LogpdfGpuUtilization(_GpuTracks):
    """GPU load of batched logpdf by precision and batch size."""

    workload = "logpdf"
    params, param_names = _gpu_params("logpdf")
    setup_cache = _logpdf_cache


class InterpolationCpuUtilization(_CpuTracks):
    """Process CPU % and peak RSS of tensorized interpolation at large sizes."""

    workload = "interpolation"
    params, param_names = _cpu_params("interpolation")
    setup_cache = _interpolation_cache


class InterpolationGpuUtilization(_GpuTracks):
    """GPU load of tensorized interpolation at large sizes."""

    workload = "interpolation"
    params, param_names = _gpu_params("interpolation")
    setup_cache = _interpolation_cache


# --------------------------------------------------------------------------- sampler overhead

OVERHEAD_BINS = 50
OVERHEAD_ROUNDS = 5
OVERHEAD_CALLS = 4


class _OverheadFit(BackendBenchmark):
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


class SamplerOverhead(_OverheadFit):
    """The same fit timed with the sampler off and on (at PYHF_BENCH_MONITOR_INTERVAL)."""

    params, param_names = with_params(BackendBenchmark, ["sampler"], [["off", "on"]])
    version = "2"  # 2: prepared once per process, sampling sized by spread

    def setup(self, backend, device, sampler):
        super().setup(backend, device, sampler)
        self.sampler = monitor.Sampler().start() if sampler == "on" else None

    def teardown(self, backend, device, sampler):
        # asv tears down after a skipped setup too.
        if getattr(self, "sampler", None) is not None:
            self.sampler.stop()

    def time_fit(self, *params):
        self.fit()


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


class SamplerCost(_OverheadFit):
    """What the sampler costs the workload beside it: % slower, and CPU ms per sample."""

    version = "1"
    quick_params = {"backend": ["numpy"], "device": ["cpu"]}
    calibrate = False  # tracks only

    # -1.9 -> 4.8 points between two runs of identical code (docs/nightly-verdicts.md).
    @tracks.measurement("%", better="lower", floor=10)
    def track_sampler_overhead(self, *params):
        return measure_overhead(self.fit)["overhead_percent"]

    # 1.09 -> 1.39 ms (28 %) between two runs of identical code (docs/nightly-verdicts.md).
    @tracks.measurement("ms", better="lower", threshold=0.5)
    def track_sampler_cpu_per_sample(self, *params):
        cost = measure_overhead(self.fit, rounds=2)["ms_per_sample"]
        if cost is None:
            _skip("no samples were taken")
        return cost
