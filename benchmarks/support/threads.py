"""Control and record how many threads the math libraries use.

On a 2-core machine a sbottom hypotest ran 3.3x slower with OpenBLAS's
default thread count than with one thread, so every benchmark runs with a
known count: ``PYHF_BENCH_THREADS`` (default 1), and the thread benchmark
varies it.
"""

import os
import sys

from . import settings

DEFAULT_THREADS = settings.DEFAULT_THREADS


def configured_threads(environ=os.environ):
    return settings.blas_threads(environ)


_limiter = None
_limited_to = None


def limit_threads(threads, force=False):
    """Use ``threads`` threads in BLAS/OpenMP (threadpoolctl) and in torch, if loaded.

    threadpoolctl scans every loaded library (milliseconds), and asv reruns
    setup before every timed call: an unchanged count is applied again only
    with ``force`` (after new libraries were loaded).
    """
    global _limiter, _limited_to
    if threads == _limited_to and not force:
        return threads
    from threadpoolctl import threadpool_limits

    _limiter = threadpool_limits(limits=threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    _limited_to = threads
    return threads


def blas_threads_in_use():
    """The largest thread count any loaded BLAS/OpenMP library is set to use."""
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info()]
    return max(counts) if counts else 1
