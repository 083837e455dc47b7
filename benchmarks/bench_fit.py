"""Maximum-likelihood fits on published likelihoods.

Unconditional and fixed-POI (mu = 1) fits of the signal-plus-background
model of each pallet's representative signal patch, with the SciPy and
Minuit optimizers. The best-fit twice negative log-likelihood and the number
of function evaluations are tracked, so a change in the result or in the
optimizer's path shows in history next to the time.

setup fits once per process before anything is measured: a first call
traces and compiles (JAX) or fills caches, and under ``asv run --quick``
(one sample) the time would otherwise be that first call's.
"""

from .common import FIT_LIKELIHOODS, BackendBenchmark, SkipNotImplemented, with_params
from .support import pallets, pyhf_compat, tracks
from .support.backends import OPTIMIZERS


#: (backend, device, optimizer, likelihood) -> (model, data), warmed up, in this process.
_WARM = {}


class MaximumLikelihoodFit(BackendBenchmark):
    """Fits of a pallet's signal model, per backend, device, optimizer and pallet."""

    params, param_names = with_params(
        BackendBenchmark, ["optimizer", "likelihood"],
        [list(OPTIMIZERS), FIT_LIKELIHOODS],
    )
    version = "2"  # 2: warmed up in setup
    repeat = (1, 5, 60.0)

    def setup(self, backend, device, optimizer, likelihood):
        self.optimizer = optimizer
        super().setup(backend, device)
        # asv reruns setup before every sample, in one process per benchmark: build and warm
        # the model once, and reuse the same objects so that JAX's compiled functions hit.
        key = (backend, device, optimizer, likelihood)
        if key not in _WARM:
            model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
            data = self.tensorlib.astensor(data)
            self.model, self.data = model, data
            self.wait(self.fit()[0])
            self.wait(self.fit(fixed_poi=1.0)[0])
            _WARM[key] = model, data
        self.model, self.data = _WARM[key]

    def fit(self, fixed_poi=None):
        return pyhf_compat.fit_with_details(self.data, self.model, fixed_poi=fixed_poi)

    def time_unconditional_fit(self, *params):
        self.wait(self.fit()[0])

    def time_fixed_poi_fit(self, *params):
        self.wait(self.fit(fixed_poi=1.0)[0])

    @tracks.result("-2 ln L")
    def track_twice_nll(self, *params):
        return float(self.fit()[1])

    @tracks.result("evaluations")
    def track_function_evaluations(self, *params):
        nfev = self.fit()[2]
        if nfev is None:
            raise SkipNotImplemented("this pyhf returns no optimizer result object")
        return nfev
