"""Toy-based CLs hypothesis tests.

``hypotest`` with ``calctype="toybased"`` and a small number of toys on a
quick pallet: every toy is two fits, so this is the fit loop at scale.
Throughput (toys per second) is tracked next to the time.

setup throws toys once per process before anything is measured (as many
as a timed call on JAX, which compiles for their number), so that neither
the time nor the throughput is a first call's (JAX traces and compiles the
fits then).
"""

import time

from .common import BackendBenchmark, quick, with_params
from .support import pallets, pyhf_compat, tracks

TOY_LIKELIHOODS = ["sbottom/RegionB"]
#: 10 toys per hypothesis: a call takes about 10 s with NumPy on this pallet on a 2-core
#: VM (50 took 49 s and made toys the costliest benchmark of the quick suite).
N_TOYS = 10
WARM_UP_TOYS = 2
#: JAX compiles the toys' sampling for their number: warmed up with 2, its first timed call
#: compiled for 10 (1.06 s against 0.54 and 0.52 s for the next two; warmed up with 10:
#: 0.50, 0.50, 0.49 s; JAX's cache off, pyhf b3dc4bb2, docs/suite-cost.md).
WARM_UP_WITH_ALL_TOYS = {"jax"}
#: The same toys in every call: the time of a call then depends on the code, not on which
#: toys were drawn (the fits of some toys take more iterations).
TOY_SEED = 0

class ToyBasedCLs(BackendBenchmark):
    """A toy-based hypotest at POI 1 with ``N_TOYS`` toys per hypothesis."""

    params, param_names = with_params(BackendBenchmark, ["likelihood"], [TOY_LIKELIHOODS])
    version = "4"  # 2: warmed up in setup; 3: three samples, one process; 4: 10 seeded toys
    # A call takes seconds: a pilot would cost a call more, and the spread target holds anyway.
    calibrate = False
    repeat = (3, 3, 0.0)
    number = 1

    def setup_once(self, backend, device, likelihood):
        pyhf_compat.require_toys()
        model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
        self.model, self.data = model, self.tensorlib.astensor(data)
        self.hypotest(N_TOYS if backend in WARM_UP_WITH_ALL_TOYS else WARM_UP_TOYS)

    def hypotest(self, ntoys=N_TOYS):
        import numpy as np
        import pyhf

        np.random.seed(TOY_SEED)  # pyhf draws toys from NumPy's global generator
        return self.wait(
            pyhf.infer.hypotest(
                1.0, self.data, self.model, calctype="toybased", ntoys=ntoys,
                track_progress=False, **pyhf_compat.test_stat_kwargs("qtilde"),
            )
        )

    @quick(backend=["numpy"], device=["cpu"])
    def time_toybased_hypotest(self, *params):
        self.hypotest()

    # Wall-time based: 22 % apart between two runs of identical code (docs/nightly-verdicts.md).
    @tracks.measurement("toys/s", better="higher", threshold=0.4)
    def track_toys_per_second(self, *params):
        start = time.perf_counter()
        self.hypotest()
        # Toys are thrown for both the signal+background and background-only hypotheses.
        return 2 * N_TOYS / (time.perf_counter() - start)
