"""How hard the hardware works while pyhf runs: CPU and GPU utilization as asv tracks.

One class per workload (fit, toys, batched logpdf, interpolation) over backend and
device. Its ``setup_cache`` runs the workload under the sampler on every backend and
device, each in a process of its own (``support/utilization.py``), and its tracks
read that one measurement: CPU % and peak RSS on both devices, the GPU's figures on
device ``gpu`` only (n/a on ``cpu``). ``SamplerOverhead`` and ``SamplerCost``: what
watching costs the watched. Sizes, series and GPU hosts: docs/utilization.md.
"""

from .common import BackendBenchmark, with_params
from .support import monitor, skips, suite, tracks, utilization
from .support.utilization import measuring, quick_variant, workload_params


# Each workload's class defines its own setup_cache: asv keys a cache by the file and line of
# the function, so an inherited one would be one cache shared by every class.
class _Utilization(utilization.UtilizationTracks):
    """The tracks of one workload's measurement; a subclass names the workload."""

    version = "1"

    # Load from other processes moves it: 152 -> 95 and 53 -> 110 between two whole-suite
    # runs of identical code on a 2-core VM (docs/nightly-verdicts.md). Only a collapse counts.
    @tracks.measurement("% of one core", better="higher", threshold=0.6, floor=50)
    def track_cpu_percent(self, *params):
        return self.cpu_value("cpu_percent_mean")

    @tracks.measurement("MiB", better="lower")
    def track_peak_rss(self, *params):
        return self.cpu_value("rss_peak", monitor.MIB)

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


class FitUtilization(_Utilization):
    """CPU, memory and GPU load of maximum-likelihood fits on a large pallet."""

    workload = "fit"
    params, param_names = workload_params(workload)

    @measuring
    def setup_cache(self):
        # In a quick-suite run, only the backends of the quick suite's tracks.
        backends = suite.quick_limits(FitUtilization, "track_cpu_percent").get("backend")
        return utilization.measure_all("fit", backends)

    # The quick suite: the CPU tracks of numpy on the CPU.
    track_cpu_percent = quick_variant(_Utilization.track_cpu_percent, backend=["numpy"], device=["cpu"])
    track_peak_rss = quick_variant(_Utilization.track_peak_rss, backend=["numpy"], device=["cpu"])


class ToysUtilization(_Utilization):
    """CPU, memory and GPU load while toys are thrown and fitted."""

    workload = "toys"
    params, param_names = workload_params(workload)

    @measuring
    def setup_cache(self):
        return utilization.measure_all("toys")


class LogpdfUtilization(_Utilization):
    """CPU, memory and GPU load of batched logpdf by precision and batch size."""

    workload = "logpdf"
    params, param_names = workload_params(workload)

    @measuring
    def setup_cache(self):
        return utilization.measure_all("logpdf")


class InterpolationUtilization(_Utilization):
    """CPU, memory and GPU load of tensorized interpolation at large sizes."""

    workload = "interpolation"
    params, param_names = workload_params(workload)

    @measuring
    def setup_cache(self):
        return utilization.measure_all("interpolation")


class SamplerOverhead(utilization.OverheadFit):
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


class SamplerCost(utilization.OverheadFit):
    """What the sampler costs the workload beside it: % slower, and CPU ms per sample."""

    version = "1"
    quick_params = {"backend": ["numpy"], "device": ["cpu"]}
    calibrate = False  # tracks only

    # -1.9 -> 4.8 points between two runs of identical code (docs/nightly-verdicts.md).
    @tracks.measurement("%", better="lower", floor=10)
    def track_sampler_overhead(self, *params):
        return utilization.measure_overhead(self.fit)["overhead_percent"]

    # 1.09 -> 1.39 ms (28 %) between two runs of identical code (docs/nightly-verdicts.md).
    @tracks.measurement("ms", better="lower", threshold=0.5)
    def track_sampler_cpu_per_sample(self, *params):
        cost = utilization.measure_overhead(self.fit, rounds=2)["ms_per_sample"]
        if cost is None:
            skips.skip("no samples were taken", self, params)
        return cost
