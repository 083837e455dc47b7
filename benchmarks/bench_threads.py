"""How the thread count of the math libraries changes the time of a hypotest.

On a 2-core machine a sbottom hypotest ran 3.3x slower with OpenBLAS's
default threads than with one thread: the rest of the suite therefore pins
the count (PYHF_BENCH_THREADS, default 1), and this module measures it,
and records the count the other benchmarks ran with.
"""

import os

from .bench_hypotest import hypotest
from .common import BackendBenchmark
from .support import pallets, threads, tracks

THREAD_LIKELIHOOD = "sbottom/RegionA"
THREAD_COUNTS = sorted({1, 2, os.cpu_count() or 1})


class HypotestThreads(BackendBenchmark):
    """The sbottom RegionA hypotest with 1, 2 and all cores' worth of BLAS/torch threads."""

    # jax and tensorflow fix their thread pools when they start; numpy (BLAS) and torch do not.
    params = [["numpy", "pytorch"], ["cpu"], THREAD_COUNTS]
    param_names = ["backend", "device", "threads"]
    version = "2"  # 2: prepared once per process, sampling sized by spread
    quick_params = {}  # all of it

    def thread_count(self, thread_count):
        return thread_count

    def setup_once(self, backend, device, thread_count):
        self.model, data = pallets.load_model(
            THREAD_LIKELIHOOD, pallets.signal_patch(THREAD_LIKELIHOOD)
        )
        self.data = self.tensorlib.astensor(data)
        self.wait(hypotest(self.data, self.model))

    def sample_call(self):
        self.wait(hypotest(self.data, self.model))

    def time_hypotest(self, *params):
        self.wait(hypotest(self.data, self.model))


class ThreadSettings(BackendBenchmark):
    """The BLAS thread count still in force after a hypotest: a result that must not move.

    setup pins PYHF_BENCH_THREADS, as for every benchmark; reading that back at
    once would only echo the setting, so a hypotest runs first: a pyhf or
    library change that resets the thread pools (and so changes what every
    other benchmark measures) shows here.
    """

    params = [["numpy"], ["cpu"]]
    version = "2"  # 2: read after a hypotest, not straight after pinning
    quick_params = {}
    # Read what the hypotest left in force, not a limit applied again after it.
    limit_again_after_setup_once = False

    def setup_once(self, backend, device):
        model, data = pallets.load_model(THREAD_LIKELIHOOD, pallets.signal_patch(THREAD_LIKELIHOOD))
        self.wait(hypotest(self.tensorlib.astensor(data), model))

    @tracks.result("threads")
    def track_blas_threads(self, backend, device):
        return threads.blas_threads_in_use()
