"""Asymptotic CLs hypothesis tests, as in the published pallet scans.

``hypotest`` at POI 1 with ``test_stat="qtilde"`` and the expected band,
normsys code4 and histosys code4p, on each pallet's representative signal
patch. Timed warm (after one call, so jax's compilation is excluded) and
cold (a fresh interpreter per sample, compilation included); CLs_obs and
the median expected CLs are tracked.
"""

from pathlib import Path

from .common import FIT_LIKELIHOODS, BackendBenchmark, ResultsOnce, quick, with_params
from .support import pallets, pyhf_compat, track_results, tracks

BENCHMARKS_PARENT = Path(__file__).resolve().parents[1]


def hypotest(data, model):
    import pyhf

    return pyhf.infer.hypotest(
        1.0, data, model, return_expected_set=True, **pyhf_compat.test_stat_kwargs("qtilde")
    )


class AsymptoticCLs(ResultsOnce):
    """A CLs hypotest of a signal patch, per backend, device and pallet."""

    params, param_names = with_params(
        BackendBenchmark, ["likelihood"], [FIT_LIKELIHOODS]
    )
    version = "2"  # 2: prepared once per process, sampling sized by spread

    def setup_cache(self):
        return track_results.compute(AsymptoticCLs)

    def setup_once(self, backend, device, likelihood):
        self.model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
        self.data = self.tensorlib.astensor(data)

    def warm_up(self):
        # Compile (jax) and warm caches outside the timed calls.
        self.wait(hypotest(self.data, self.model))

    def results(self):
        cls_obs, cls_exp_band = self.wait(hypotest(self.data, self.model))
        return {"cls_obs": float(cls_obs), "cls_exp_median": float(cls_exp_band[2])}

    def sample_call(self):
        self.wait(hypotest(self.data, self.model))

    @quick(backend=["numpy", "jax", "pytorch"], device=["cpu"],
           likelihood=["sbottom/RegionB", "staus"])
    def time_hypotest_warm(self, *params):
        self.wait(hypotest(self.data, self.model))

    @quick(backend=["numpy", "jax", "pytorch"], device=["cpu"],
           likelihood=["sbottom/RegionB", "staus"])
    @tracks.result("CLs")
    def track_cls_obs(self, *params):
        return self.result("cls_obs")

    @tracks.result("CLs")
    def track_cls_exp_median(self, *params):
        return self.result("cls_exp_median")


class AsymptoticCLsColdStart(BackendBenchmark):
    """The same hypotest as the first call in a fresh interpreter (jax compiles here)."""

    params, param_names = AsymptoticCLs.params, AsymptoticCLs.param_names
    version = "1"
    repeat = 3
    number = 1
    calibrate = False  # each sample is a fresh interpreter: nothing to size

    @quick(backend=["numpy", "jax"], device=["cpu"], likelihood=["sbottom/RegionB"])
    def timeraw_hypotest_cold(self, backend, device, likelihood):
        setup = f"""
import sys
sys.path.insert(0, {str(BENCHMARKS_PARENT)!r})
from benchmarks.support import backends, pallets, threads
from benchmarks.bench_hypotest import hypotest
tensorlib = backends.activate({backend!r}, {device!r})
threads.limit_threads(threads.configured_threads())
model, data = pallets.load_model({likelihood!r}, pallets.signal_patch({likelihood!r}))
data = tensorlib.astensor(data)
"""
        code = f"backends.wait_for_device({backend!r}, hypotest(data, model))"
        return code, setup
