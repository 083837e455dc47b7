"""Toy-based CLs hypothesis tests.

``hypotest`` with ``calctype="toybased"`` and a small number of toys on a
quick pallet: every toy is two fits, so this is the fit loop at scale.
Throughput (toys per second) is tracked next to the time.
"""

import time

from .common import BackendBenchmark, with_params
from .support import pallets, pyhf_compat

TOY_LIKELIHOODS = ["sbottom/RegionB"]
N_TOYS = 50


class ToyBasedCLs(BackendBenchmark):
    """A toy-based hypotest at POI 1 with ``N_TOYS`` toys per hypothesis."""

    params, param_names = with_params(BackendBenchmark, ["likelihood"], [TOY_LIKELIHOODS])
    version = "1"
    repeat = (1, 3, 120.0)
    number = 1

    def setup(self, backend, device, likelihood):
        super().setup(backend, device)
        pyhf_compat.require_toys()
        self.model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
        self.data = self.tensorlib.astensor(data)

    def hypotest(self):
        import pyhf

        return self.wait(
            pyhf.infer.hypotest(
                1.0, self.data, self.model, calctype="toybased", ntoys=N_TOYS,
                track_progress=False, **pyhf_compat.test_stat_kwargs("qtilde"),
            )
        )

    def time_toybased_hypotest(self, *params):
        self.hypotest()

    def track_toys_per_second(self, *params):
        start = time.perf_counter()
        self.hypotest()
        # Toys are thrown for both the signal+background and background-only hypotheses.
        return 2 * N_TOYS / (time.perf_counter() - start)

    track_toys_per_second.unit = "toys/s"
