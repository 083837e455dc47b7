"""The base class of every benchmark that runs pyhf on a backend and device.

Modelled on scipy's benchmarks/common.py: the backend and device are asv
parameters, ``setup`` selects them (or skips, with the reason, where the
pyhf commit, the environment or the machine lacks them), fixes the thread
count, and ``wait`` synchronises the device before asv's timer stops.
"""

import os

# Raised inside a benchmark body, this is asv's skip (n/a); NotImplementedError
# there would be recorded as a failure (it is a skip only when raised in setup).
from asv_runner.benchmarks.mark import SkipNotImplemented

from .support import backends, pallets, threads
from .support.skips import RecordsSkips

#: "quick" (CI, laptops) or "full" (GPU hosts): which pallets the suite runs on.
SUITE_SIZE = os.environ.get("PYHF_BENCH_SIZE", "quick")

#: Pallets the fitting benchmarks run on. generated/large (465 parameters) is for
#: model-size scaling only: one numpy fit of it takes about 7 minutes (finite-difference
#: gradients), so a hypotest would pass asv's timeout every night.
FIT_LIKELIHOODS = [key for key in pallets.likelihoods(SUITE_SIZE) if key != "generated/large"]

#: (backend, optimizer) pairs left out of the quick suite, with the reason: one call takes
#: minutes, and asv repeats a call up to its timeout in each of two rounds, so one such
#: pair made a commit cost hours. PYHF_BENCH_SIZE=full runs them. Measured with pyhf
#: v0.7.6 on a 2-core VM, one process.
OUTSIDE_QUICK_BUDGET = {
    ("tensorflow", "minuit"): "TensorFlow with Minuit: one fit of sbottom/RegionB (3 bins) did not "
    "finish in 300 s, one of generated/small took 20 s (460 eager gradient calls); TensorFlow "
    "with SciPy fits either in under 4 s. PYHF_BENCH_SIZE=full runs it",
}


def require_budget(backend, optimizer):
    """Raise NotImplementedError, with the reason, for a pair outside the quick suite's budget."""
    if SUITE_SIZE == "quick" and (backend, optimizer) in OUTSIDE_QUICK_BUDGET:
        raise NotImplementedError(OUTSIDE_QUICK_BUDGET[backend, optimizer])


class BackendBenchmark(RecordsSkips):
    """Parametrized over pyhf backend and device; subclasses append their own parameters."""

    params = [list(backends.BACKENDS), list(backends.DEVICES)]
    param_names = ["backend", "device"]
    precision = "64b"
    optimizer = "scipy"
    timeout = 600

    def setup(self, backend, device, *params):
        self.backend = backend
        require_budget(backend, self.optimizer)
        self.tensorlib = backends.activate(
            backend, device, precision=self.precision, optimizer=self.optimizer
        )
        threads.limit_threads(threads.configured_threads())

    def wait(self, result):
        """Return ``result`` once the device has computed it."""
        return backends.wait_for_device(self.backend, result)


__all__ = ["BackendBenchmark", "FIT_LIKELIHOODS", "OUTSIDE_QUICK_BUDGET", "SkipNotImplemented", "SUITE_SIZE", "require_budget", "with_params"]


def with_params(base, names, values):
    """``params`` and ``param_names`` of ``base`` extended by more parameters."""
    return base.params + list(values), base.param_names + list(names)
