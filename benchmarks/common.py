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

#: "quick" (CI, laptops) or "full" (GPU hosts): which pallets the suite runs on.
SUITE_SIZE = os.environ.get("PYHF_BENCH_SIZE", "quick")

#: Pallets the fitting benchmarks run on. generated/large (465 parameters) is for
#: model-size scaling only: one numpy fit of it takes about 7 minutes (finite-difference
#: gradients), so a hypotest would pass asv's timeout every night.
FIT_LIKELIHOODS = [key for key in pallets.likelihoods(SUITE_SIZE) if key != "generated/large"]


class BackendBenchmark:
    """Parametrized over pyhf backend and device; subclasses append their own parameters."""

    params = [list(backends.BACKENDS), list(backends.DEVICES)]
    param_names = ["backend", "device"]
    precision = "64b"
    optimizer = "scipy"
    timeout = 600

    def setup(self, backend, device, *params):
        self.backend = backend
        self.tensorlib = backends.activate(
            backend, device, precision=self.precision, optimizer=self.optimizer
        )
        threads.limit_threads(threads.configured_threads())

    def wait(self, result):
        """Return ``result`` once the device has computed it."""
        return backends.wait_for_device(self.backend, result)


__all__ = ["BackendBenchmark", "FIT_LIKELIHOODS", "SkipNotImplemented", "SUITE_SIZE", "with_params"]


def with_params(base, names, values):
    """``params`` and ``param_names`` of ``base`` extended by more parameters."""
    return base.params + list(values), base.param_names + list(names)
