"""Maximum-likelihood fits on published likelihoods.

Unconditional and fixed-POI (mu = 1) fits of the signal-plus-background
model of each pallet's representative signal patch, with the SciPy and
Minuit optimizers. The best-fit twice negative log-likelihood and the number
of function evaluations are tracked, so a change in the result or in the
optimizer's path shows in history next to the time.

The fit a process times is made once before anything is timed, and it is
the one the pilot sizes the sampling by: a first call traces and compiles
(JAX) or fills caches, and under ``asv run --quick`` (one sample) the time
would otherwise be that first call's.
"""

from .common import FIT_LIKELIHOODS, BackendBenchmark, ResultsOnce, quick, timed_with, with_params
from .support import pallets, pyhf_compat, skips, track_results, tracks
from .support.backends import OPTIMIZERS


class MaximumLikelihoodFit(ResultsOnce):
    """Fits of a pallet's signal model, per backend, device, optimizer and pallet."""

    params, param_names = with_params(
        BackendBenchmark, ["optimizer", "likelihood"],
        [list(OPTIMIZERS), FIT_LIKELIHOODS],
    )
    version = "3"  # 2: warmed up in setup; 3: sampling sized by spread
    #: The POI of the fit this process warms up and sizes: the unconditional fit, or the
    #: fixed-POI one in time_fixed_poi_fit's process (timed_with).
    timed_poi = None

    def setup_cache(self):
        return track_results.compute(MaximumLikelihoodFit)

    def setup(self, cache, backend, device, optimizer, likelihood):
        self.optimizer = optimizer
        super().setup(cache, backend, device, optimizer, likelihood)

    def setup_once(self, backend, device, optimizer, likelihood):
        # Once per process; the same objects are reused so that JAX's compiled functions hit.
        model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
        self.model, self.data = model, self.tensorlib.astensor(data)

    def warm_up(self):
        self.sample_call()

    def sample_call(self):
        self.wait(self.fit(fixed_poi=self.timed_poi)[0])

    def fit(self, fixed_poi=None):
        return pyhf_compat.fit_with_details(self.data, self.model, fixed_poi=fixed_poi)

    @quick(backend=["numpy", "jax", "pytorch"], device=["cpu"], optimizer=["scipy"])
    def time_unconditional_fit(self, *params):
        self.wait(self.fit()[0])

    @timed_with(timed_poi=1.0)
    def time_fixed_poi_fit(self, *params):
        self.wait(self.fit(fixed_poi=1.0)[0])

    def results(self):
        _, twice_nll, nfev = self.fit()
        return {"twice_nll": float(twice_nll), "nfev": nfev}

    @quick(backend=["numpy", "jax", "pytorch"], device=["cpu"], optimizer=["scipy"])
    @tracks.result("-2 ln L")
    def track_twice_nll(self, *params):
        return self.result("twice_nll")

    @tracks.result("evaluations")
    def track_function_evaluations(self, cache, *params):
        nfev = self.result("nfev")
        if nfev is None:
            skips.skip("this pyhf returns no optimizer result object", self, params)
        return nfev
