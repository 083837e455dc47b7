"""pyhf against ROOT's HistFactory on the same likelihood: time and result.

Each pallet's signal model (its representative signal patch, synthetic where
none was published) is converted to a ROOT workspace by
``support.roofit.build`` (the corrections that make the two likelihoods equal
are described there and checked by ``tests/test_roofit_likelihood.py``).
Timed: the ROOT workspace build, the unconditional MLE fit in ROOT (Minuit2
Migrad, strategy 1, ROOT's default tolerance; warm, and cold as the first fit
in a fresh interpreter) and RooStats' asymptotic CLs at POI 1 with the
one-sided bounded test statistic (pyhf's ``qtilde``), after one untimed fit
(``roofit.prepare_for_tests``). Tracked: how far ROOT's
results are from pyhf's (NumPy backend, SciPy optimizer): the largest
best-fit parameter difference, the difference of pyhf's twice-NLL at the two
best fits, and the CLs differences. pyhf's own times are measured by
``bench_fit`` and ``bench_hypotest``.

The module skips everything, with the reason, where ROOT is not installed
(GPU hosts without ROOT still run the rest of the suite), and a pallet the
converter cannot reproduce exactly is skipped with the converter's reason.
ROOT is imported only inside ``setup`` and the benchmarks.
"""

from pathlib import Path

from .common import SUITE_SIZE
from .support import pallets, pyhf_compat, roofit, threads
from .support.skips import RecordsSkips

BENCHMARKS_PARENT = Path(__file__).resolve().parents[1]


def _require_root():
    if not roofit.root_available():
        raise NotImplementedError(roofit.NO_ROOT)


def _pyhf_numpy():
    import pyhf

    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())


class _RootBase(RecordsSkips):
    params = [pallets.likelihoods(SUITE_SIZE)]
    param_names = ["likelihood"]
    timeout = 600

    def setup(self, likelihood):
        _require_root()
        pyhf_compat.require_pyhf_runs_here()
        threads.limit_threads(threads.configured_threads())
        _pyhf_numpy()
        self.model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
        self.data = [float(x) for x in data]
        try:
            self.root = roofit.build(self.model, self.data)
        except roofit.UnsupportedModel as err:
            raise NotImplementedError(str(err)) from None


class RootFit(_RootBase):
    """ROOT workspace build and unconditional fit, and how the fit agrees with pyhf's."""

    version = "1"
    repeat = (1, 5, 60.0)

    def setup(self, likelihood):
        super().setup(likelihood)
        self.root_fit = roofit.fit(self.root)  # warm-up: JIT and caches outside the timed fits

    def time_build_workspace(self, likelihood):
        roofit.build(self.model, self.data)

    def time_unconditional_fit(self, likelihood):
        roofit.fit(self.root)

    def _pyhf_fit(self):
        import pyhf

        bestfit, twice_nll = pyhf.infer.mle.fit(self.data, self.model, return_fitted_val=True)
        return [float(x) for x in bestfit], float(twice_nll)

    def track_bestfit_max_abs_difference(self, likelihood):
        bestfit, _ = self._pyhf_fit()
        return max(abs(a - b) for a, b in zip(bestfit, self.root_fit.bestfit))

    track_bestfit_max_abs_difference.unit = "|ROOT - pyhf|"

    def track_poi_difference(self, likelihood):
        bestfit, _ = self._pyhf_fit()
        poi = self.model.config.poi_index
        return self.root_fit.bestfit[poi] - bestfit[poi]

    track_poi_difference.unit = "ROOT - pyhf"

    def track_twice_nll_difference(self, likelihood):
        """pyhf's -2 ln L at ROOT's best fit minus at pyhf's (negative: ROOT found a lower minimum)."""
        _, twice_nll = self._pyhf_fit()
        at_root = -2.0 * float(self.model.logpdf(self.root_fit.bestfit, self.data)[0])
        return at_root - twice_nll

    track_twice_nll_difference.unit = "-2 ln L"


class RootFitColdStart(_RootBase):
    """The first ROOT fit in a fresh interpreter (RooFit's JIT and first-use costs included)."""

    version = "1"
    repeat = 3
    number = 1

    def setup(self, likelihood):
        _require_root()  # the fresh interpreter below builds its own workspace

    def timeraw_unconditional_fit_cold(self, likelihood):
        setup = f"""
import sys
sys.path.insert(0, {str(BENCHMARKS_PARENT)!r})
from benchmarks.support import pallets, roofit, threads
threads.limit_threads(threads.configured_threads())
model, data = pallets.load_model({likelihood!r}, pallets.signal_patch({likelihood!r}))
root = roofit.build(model, [float(x) for x in data])
"""
        return "roofit.fit(root)", setup


class RootHypotest(_RootBase):
    """RooStats' asymptotic CLs at POI 1 (qtilde), and its difference to pyhf's."""

    version = "2"  # 2: a fit before the first test (prepare_for_tests)
    repeat = (1, 3, 120.0)

    def setup(self, likelihood):
        super().setup(likelihood)
        roofit.prepare_for_tests(self.root)
        self.root_cls = roofit.hypotest(self.root)  # warm-up, and the result tracked below

    def time_hypotest(self, likelihood):
        roofit.hypotest(self.root)

    def _pyhf_cls(self):
        import pyhf

        cls_obs, cls_exp = pyhf.infer.hypotest(
            1.0, self.data, self.model, return_expected=True, **pyhf_compat.test_stat_kwargs("qtilde"))
        return float(cls_obs), float(cls_exp)

    def track_root_cls_obs(self, likelihood):
        return self.root_cls[0]

    track_root_cls_obs.unit = "CLs"

    def track_cls_obs_difference(self, likelihood):
        return self.root_cls[0] - self._pyhf_cls()[0]

    track_cls_obs_difference.unit = "ROOT - pyhf"

    def track_cls_exp_difference(self, likelihood):
        return self.root_cls[1] - self._pyhf_cls()[1]

    track_cls_exp_difference.unit = "ROOT - pyhf"
