"""Maximum-likelihood fits on published likelihoods.

Unconditional and fixed-POI (mu = 1) fits of the signal-plus-background
model of each pallet's representative signal patch, with the SciPy and
Minuit optimizers. The best-fit twice negative log-likelihood and the number
of function evaluations are tracked, so a change in the result or in the
optimizer's path shows in history next to the time.
"""

from .common import FIT_LIKELIHOODS, BackendBenchmark, SkipNotImplemented, with_params
from .support import pallets, pyhf_compat
from .support.backends import OPTIMIZERS


class MaximumLikelihoodFit(BackendBenchmark):
    """Fits of a pallet's signal model, per backend, device, optimizer and pallet."""

    params, param_names = with_params(
        BackendBenchmark, ["optimizer", "likelihood"],
        [list(OPTIMIZERS), FIT_LIKELIHOODS],
    )
    version = "1"
    repeat = (1, 5, 60.0)

    def setup(self, backend, device, optimizer, likelihood):
        self.optimizer = optimizer
        super().setup(backend, device)
        self.model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
        self.data = self.tensorlib.astensor(data)

    def fit(self, fixed_poi=None):
        return pyhf_compat.fit_with_details(self.data, self.model, fixed_poi=fixed_poi)

    def time_unconditional_fit(self, *params):
        self.wait(self.fit()[0])

    def time_fixed_poi_fit(self, *params):
        self.wait(self.fit(fixed_poi=1.0)[0])

    def track_twice_nll(self, *params):
        return float(self.fit()[1])

    track_twice_nll.unit = "-2 ln L"

    def track_function_evaluations(self, *params):
        nfev = self.fit()[2]
        if nfev is None:
            raise SkipNotImplemented("this pyhf returns no optimizer result object")
        return nfev

    track_function_evaluations.unit = "evaluations"
