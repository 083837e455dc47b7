"""The workload pyhf benchmarks itself with (tests/benchmarks/test_benchmark.py).

A CLs hypothesis test at POI 1 on ``uncorrelated_background`` models of
1 to 200 bins: the baseline pyhf's maintainers already know the numbers of.
"""

from .common import BackendBenchmark, ResultsOnce, quick, with_params
from .support import pyhf_compat, track_results, tracks


class HypotestUncorrelatedBackground(ResultsOnce):
    """Time and result of ``hypotest`` with the expected band, as in pyhf's own benchmark."""

    params, param_names = with_params(BackendBenchmark, ["n_bins"], [[1, 10, 50, 100, 200]])
    version = "2"  # 2: prepared once per process, sampling sized by spread

    def setup_cache(self):
        return track_results.compute(HypotestUncorrelatedBackground)

    def setup_once(self, backend, device, n_bins):
        self.model = pyhf_compat.uncorrelated_background(
            [30.0] * n_bins, [100.0] * n_bins, [10.0] * n_bins
        )
        self.data = self.tensorlib.astensor([120.0] * n_bins + self.model.config.auxdata)
        self.test_stat = pyhf_compat.test_stat_kwargs("qtilde")

    def warm_up(self):
        # Compile (jax) and warm caches outside the timed calls, as pytest-benchmark's rounds do.
        self.hypotest()

    def sample_call(self):
        self.hypotest()

    def hypotest(self):
        import pyhf

        return self.wait(
            pyhf.infer.hypotest(
                1.0, self.data, self.model,
                self.model.config.suggested_init(), self.model.config.suggested_bounds(),
                return_tail_probs=True, return_expected=True, return_expected_set=True,
                **self.test_stat,
            )
        )

    def results(self):
        return {"cls_obs": float(self.hypotest()[0])}

    @quick(device=["cpu"], n_bins=[1, 50])
    def time_hypotest(self, *params):
        self.hypotest()

    @quick(device=["cpu"], n_bins=[1, 50])
    @tracks.result("CLs")
    def track_cls_obs(self, *params):
        return self.result("cls_obs")
