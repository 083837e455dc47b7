"""The base class of every benchmark that runs pyhf on a backend and device.

Modelled on scipy's benchmarks/common.py: the backend and device are asv
parameters, ``setup`` selects them (or skips, with the reason, where the
pyhf commit, the environment or the machine lacks them), fixes the thread
count, and ``wait`` synchronises the device before asv's timer stops.
"""

# Raised inside a benchmark body, this is asv's skip (n/a); NotImplementedError
# there would be recorded as a failure (it is a skip only when raised in setup).
from asv_runner.benchmarks.mark import SkipNotImplemented

from .support import backends, pallets, preimport, sampling, settings, threads, track_results
from .support.suite import quick
from .support.skips import RecordsSkips

# In asv's forkserver, import the frameworks once, before the per-benchmark forks.
preimport.in_forkserver()

#: "quick" (CI, laptops) or "full" (GPU hosts): which pallets the suite runs on.
SUITE_SIZE = settings.suite_size()

#: Pallets the fitting benchmarks run on. generated/large (465 parameters) is for
#: model-size scaling only: one numpy fit of it takes about 7 minutes (finite-difference
#: gradients), so a hypotest would pass asv's timeout every night.
FIT_LIKELIHOODS = [key for key in pallets.likelihoods(SUITE_SIZE) if key != "generated/large"]

#: (backend, optimizer) pairs left out of the quick suite, with the reason: an eager backend
#: under Minuit fits tens to thousands of times slower than with SciPy, which made one pair
#: cost a commit hours (TensorFlow) or minutes (PyTorch). PYHF_BENCH_SIZE=full runs them.
#: Measured with pyhf v0.7.6 on a 2-core VM, one process (docs/suite-cost.md).
OUTSIDE_QUICK_BUDGET = {
    ("tensorflow", "minuit"): "TensorFlow with Minuit: one fit of sbottom/RegionB (3 bins) did not "
    "finish in 300 s, one of generated/small took 20 s (460 eager gradient calls); TensorFlow "
    "with SciPy fits either in under 4 s. PYHF_BENCH_SIZE=full runs it",
    ("pytorch", "minuit"): "PyTorch with Minuit: one fit of staus took 18.7 s, one of "
    "sbottom/RegionB 4.1 s (9447 and 2394 function evaluations); PyTorch with SciPy fits "
    "either in 0.11 s or less. The fit time_ benchmarks of the whole suite at v0.7.6 took 493 s "
    "with it, 228 s without. PYHF_BENCH_SIZE=full runs it",
}


def require_budget(backend, optimizer):
    """Raise NotImplementedError, with the reason, for a pair outside the quick suite's budget."""
    if SUITE_SIZE == "quick" and (backend, optimizer) in OUTSIDE_QUICK_BUDGET:
        raise NotImplementedError(OUTSIDE_QUICK_BUDGET[backend, optimizer])


NOT_SIZED = object()


class BackendBenchmark(RecordsSkips):
    """Parametrized over pyhf backend and device; subclasses append their own parameters.

    Subclasses put their one-time work (loading, building) in ``setup_once``,
    which runs once per benchmark process: asv reruns ``setup`` before every
    timed sample and, with ``number`` above 1, before every call. Calls that
    only warm up (compile, fill caches) go in ``warm_up``, which runs once,
    before the pilot, in time_ benchmarks' processes only: a track_ result
    does not depend on how warm its process is. ``sample_call`` (if defined)
    is the warm call the time_ benchmarks time: a pilot of it sizes
    ``number`` and ``repeat`` (support/sampling.py).
    """

    params = [list(backends.BACKENDS), list(backends.DEVICES)]
    param_names = ["backend", "device"]
    precision = "64b"
    optimizer = "scipy"
    timeout = 600
    # One process per combination; warm-up is warm_up's, not asv's (which would rerun setup).
    rounds = 1
    warmup_time = 0.0
    #: False: keep the class's own ``number``/``repeat`` (calls too slow for a pilot).
    calibrate = True
    limit_again_after_setup_once = True

    def setup(self, backend, device, *params):
        self.backend = backend
        require_budget(backend, self.optimizer)
        backends.reuse_compilations(backend)
        self.tensorlib = backends.activate(
            backend, device, precision=self.precision, optimizer=self.optimizer
        )
        self._thread_count = self.thread_count(*params)
        threads.limit_threads(self._thread_count)
        key = (backend, device, *params)
        if getattr(self, "_prepared_for", None) != key:
            self._prepared_for = key
            self._prepared = False
            self._sampling = NOT_SIZED
            self._warmed = False
        if not self.prepare_lazily:
            try:
                self.ensure_prepared()
            except NotImplementedError:
                # A skip: asv still reads number, repeat and min_run_count, which must not
                # prepare again (the skip raised there would be a failure).
                self._prepared_for = None
                raise

    #: True: ``setup`` leaves ``setup_once`` to asv's first read of its sampling (time_ only).
    prepare_lazily = False

    def ensure_prepared(self):
        """``setup_once`` once per combination, then the thread limit on what it loaded."""
        if not self._prepared:
            self.setup_once(*self._prepared_for)
            self._limit_loaded_libraries()
            self._prepared = True

    def setup_once(self, backend, device, *params):
        """One-time work of a combination in this process (subclasses)."""

    def warm_up(self):
        """Calls before the first timed one, in time_ benchmarks' processes (subclasses)."""

    def warm_once(self):
        """``warm_up`` once per prepared combination, then the thread limit on what it loaded."""
        self.ensure_prepared()
        if not self._warmed:
            self.warm_up()
            self._limit_loaded_libraries()
            self._warmed = True

    def _limit_loaded_libraries(self):
        if self.limit_again_after_setup_once:
            # Libraries the preparation loaded (torch's OpenMP, ...) get the same limit.
            threads.limit_threads(self._thread_count, force=True)

    # asv reads number and repeat after setup, and only for time_ benchmarks: warmed up and
    # sized here, at that first read, a track_ or peakmem_ benchmark's process pays neither.
    # None (before setup, or no pilot): asv's own default.
    @property
    def number(self):
        sized = self._sized_sampling()
        return None if sized is None else sized[0]

    @property
    def repeat(self):
        sized = self._sized_sampling()
        return None if sized is None else sized[1]

    # --quick fixes number and repeat, not min_run_count: this read alone prepares and warms a
    # quick run's one sample, which would otherwise time a lazily prepared instance's first call.
    @property
    def min_run_count(self):
        if getattr(self, "_prepared_for", None) is not None:
            self.warm_once()
        return 1

    def _sized_sampling(self):
        if getattr(self, "_prepared_for", None) is None:
            return None
        if self._sampling is NOT_SIZED:
            self.warm_once()
            self._sampling = self.size_sampling()
        return self._sampling

    def thread_count(self, *params):
        return threads.configured_threads()

    def size_sampling(self):
        call = getattr(self, "sample_call", None)
        if call is None or not self.calibrate:
            return None
        return sampling.plan(sampling.pilot(call))

    def wait(self, result):
        """Return ``result`` once the device has computed it."""
        return backends.wait_for_device(self.backend, result)


class _TimedWith:
    """A time_ method that sets attributes on the instance asv fetches it from (``timed_with``)."""

    def __init__(self, function, attributes):
        self.function, self.attributes = function, attributes

    def __get__(self, instance, owner):
        if instance is None:  # the class's own attribute: the function, for asv and inspect
            return self.function
        vars(instance).update(self.attributes)
        return self.function.__get__(instance, owner)


def timed_with(**attributes):
    """Decorate a time_ method: its process's instance gets ``attributes`` (what ``warm_up``
    and ``sample_call`` read to warm and size this method's call rather than the class's).

    asv's discovery makes an instance per benchmark and fetches the method from it before
    ``setup`` (asv_runner's ``discovery._get_benchmark``); that fetch sets them. Put it above
    the other decorators: it hands them the function."""
    return lambda function: _TimedWith(function, attributes)


class ResultsOnce(BackendBenchmark):
    """A BackendBenchmark whose track_ results are computed once per combination, all in the
    class's setup_cache (``track_results.compute``), not again in every track_ process.

    A subclass defines ``results()`` ({name: value} of a prepared instance; its track_
    methods return ``self.result(name)``) and its own two-line ``setup_cache`` (asv keys a
    cache by the function's file and line). Where the cache holds a combination's results,
    ``setup`` prepares nothing: a time_ benchmark prepares at asv's first read of
    ``number``, a track_ only reads. Elsewhere (no cache, an error) it prepares as before.
    """

    tracks_from_setup_cache = True

    def setup(self, cache, backend, device, *params):
        entry = track_results.entry(cache, backend, device, *params)
        if entry is not None and entry["status"] == "skip":
            raise entry["error"]
        ok = entry is not None and entry["status"] == "ok"
        self._results = entry["results"] if ok else None
        self.prepare_lazily = ok
        super().setup(backend, device, *params)

    def results(self):
        """{name: value} that the track_ methods return (subclasses)."""
        raise NotImplementedError

    def result(self, name):
        if self._results is None:
            self._results = self.results()
        return self._results[name]


__all__ = ["BackendBenchmark", "ResultsOnce", "quick", "timed_with", "FIT_LIKELIHOODS", "OUTSIDE_QUICK_BUDGET", "SkipNotImplemented", "SUITE_SIZE", "require_budget", "with_params"]


def with_params(base, names, values):
    """``params`` and ``param_names`` of ``base`` extended by more parameters."""
    return base.params + list(values), base.param_names + list(names)
