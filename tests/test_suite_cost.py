"""The mechanisms that size a commit's run (docs/suite-cost.md): no timings here."""

import itertools
import json
import re
import sys

import pytest

from benchmarks import common
from benchmarks.support import backends, preimport, pyhf_compat, sampling, settings, suite, threads, track_results
from pyhfbench import asvconf, machines, mainjob


# --------------------------------------------------------------------------- sampling


def test_fast_calls_are_batched_until_a_sample_is_long_enough():
    number, repeat = sampling.plan([1e-4] * 7, samples=7)
    assert number * 1e-4 >= sampling.MIN_SAMPLE_SECONDS
    assert repeat == (7, 7, 0.0)  # exactly 7 samples: asv's time budget never cuts in


def test_a_noisy_pilot_asks_for_more_calls_per_sample():
    steady = [0.01] * 8
    noisy = [0.01, 0.012, 0.008, 0.0125, 0.0075, 0.011, 0.009, 0.013]
    assert sampling.relative_spread(noisy) > sampling.SPREAD_TARGET
    assert sampling.plan(noisy, samples=7)[0] > sampling.plan(steady, samples=7)[0]


def test_batches_stay_within_the_longest_sample():
    noisy = [0.1, 0.2, 0.05, 0.3, 0.15]
    number, _ = sampling.plan(noisy, samples=7)
    assert number * sampling.statistics.median(noisy) <= sampling.MAX_SAMPLE_SECONDS


def test_slow_calls_are_timed_alone_with_fewer_but_at_least_three_samples():
    number, (low, high, _) = sampling.plan([40.0], samples=7)
    assert number == 1 and low == high == sampling.MIN_SAMPLES
    number, (low, high, _) = sampling.plan([20.0], samples=7)
    assert number == 1 and low == high == 3  # 60 s of samples
    assert sampling.plan([5.0], samples=7) == (1, (4, 4, 0.0))  # 20 s of samples
    assert sampling.plan([2.0], samples=7) == (1, (7, 7, 0.0))


def test_samples_come_from_the_environment_and_are_checked():
    assert sampling.samples_wanted({}) == sampling.DEFAULT_SAMPLES
    assert sampling.samples_wanted({sampling.SAMPLES_ENV: "3"}) == 3
    with pytest.raises(ValueError, match="at least 3"):
        sampling.samples_wanted({sampling.SAMPLES_ENV: "1"})
    with pytest.raises(ValueError, match="whole number"):
        sampling.samples_wanted({sampling.SAMPLES_ENV: "many"})


def test_pilot_stops_after_its_time_but_takes_one_call_at_least():
    now = [0.0]

    def clock():
        return now[0]

    def call():
        now[0] += 0.2

    assert len(sampling.pilot(call, calls=7, seconds=0.3, clock=clock)) == 2
    assert len(sampling.pilot(call, calls=7, seconds=0.0, clock=clock)) == 1
    assert len(sampling.pilot(call, calls=3, seconds=100, clock=clock)) == 3


def test_the_pilot_warms_a_fast_call_up_before_timing_it():
    now, made = [0.0], []

    def call():
        made.append(now[0])
        now[0] += 0.01

    times = sampling.pilot(call, calls=7, seconds=0.3, clock=lambda: now[0], warm_seconds=0.2)
    assert len(times) == 7 and len(made) >= 7 + 19  # about 0.2 s of calls before


# --------------------------------------------------------------------------- one-time preparation


class _Counting(common.BackendBenchmark):
    params = [["numpy"], ["cpu"], [1, 2]]
    param_names = ["backend", "device", "n"]

    @classmethod
    def reset(cls):
        cls.prepared, cls.calls, cls.warmed = [], 0, []

    def setup_once(self, backend, device, n):
        type(self).prepared.append(n)
        self.value = n

    def warm_up(self):
        type(self).warmed.append((self.value, type(self).calls))

    def sample_call(self):
        type(self).calls += 1

    def time_it(self, *params):
        pass


def test_prepare_runs_once_per_combination_while_setup_runs_before_every_sample():
    pytest.importorskip("pyhf")
    _Counting.reset()
    bench = _Counting()
    for _ in range(3):
        bench.setup("numpy", "cpu", 1)
    assert _Counting.prepared == [1] and bench.value == 1
    # No warm-up and no pilot yet: a track_ benchmark never reads number.
    assert _Counting.calls == 0 and _Counting.warmed == []
    assert bench.number >= 1 and bench.repeat[0] == bench.repeat[1] >= sampling.MIN_SAMPLES
    pilot_calls = _Counting.calls
    assert pilot_calls >= 1  # the pilot ran once, at asv's first read after setup
    assert _Counting.warmed == [(1, 0)]  # warmed up once, before the pilot's first call
    bench.setup("numpy", "cpu", 1)
    assert bench.number >= 1 and _Counting.calls == pilot_calls and len(_Counting.warmed) == 1
    bench.setup("numpy", "cpu", 2)
    assert _Counting.prepared == [1, 2] and bench.value == 2
    assert bench.number >= 1 and _Counting.warmed[1:] == [(2, pilot_calls)]


def test_classes_that_opt_out_of_the_pilot_keep_their_own_sampling():
    pytest.importorskip("pyhf")
    from benchmarks.bench_toys import ToyBasedCLs

    assert ToyBasedCLs.calibrate is False and ToyBasedCLs.repeat == (3, 3, 0.0)

    class Fixed(_Counting):
        calibrate = False

    _Counting.reset()
    bench = Fixed()
    bench.setup("numpy", "cpu", 1)
    assert bench.number is None and bench.repeat is None  # asv's defaults
    assert _Counting.calls == 0 and _Counting.warmed == [(1, 0)]  # a time_ process still warms up


def test_asv_sizes_a_time_benchmark_after_setup_and_a_track_without_a_pilot():
    pytest.importorskip("pyhf")
    from asv_runner.benchmarks.time import TimeBenchmark
    from asv_runner.benchmarks.track import TrackBenchmark

    _Counting.reset()
    instance = _Counting()
    timed = TimeBenchmark("m._Counting.time_it", instance.time_it, [instance.time_it, instance])
    assert timed.number == 0  # discovery: before setup, asv's default
    timed.set_param_idx(0)
    assert not timed.do_setup()
    assert timed.number >= 1 and _Counting.calls >= 1 and _Counting.warmed == [(1, 0)]

    _Counting.reset()
    instance = _Counting()
    instance.track_it = lambda *params: 1.0
    tracked = TrackBenchmark("m._Counting.track_it", instance.track_it, [instance.track_it, instance])
    tracked.set_param_idx(0)
    assert not tracked.do_setup() and tracked.run(*tracked._current_params) == 1.0
    assert _Counting.prepared == [1] and _Counting.calls == 0 and _Counting.warmed == []


def test_a_skip_in_the_preparation_stays_a_skip_when_asv_reads_the_sampling():
    # asv reads number, repeat and min_run_count after a skipped setup too; preparing again
    # there raised the skip outside asv's skip handling: v0.7.6's toys failed, not n/a.
    pytest.importorskip("pyhf")
    from asv_runner.benchmarks.time import TimeBenchmark

    class Unavailable(_Counting):
        def setup_once(self, backend, device, n):
            raise NotImplementedError("not in this pyhf")

    _Counting.reset()
    instance = Unavailable()
    timed = TimeBenchmark("m.Unavailable.time_it", instance.time_it, [instance.time_it, instance])
    timed.set_param_idx(0)
    assert timed.do_setup() is True  # skipped, and nothing raised
    assert _Counting.calls == 0 and _Counting.warmed == []


def test_the_paired_worker_warms_up_a_time_benchmark_as_asv_does_and_a_track_not(monkeypatch):
    pytest.importorskip("pyhf")
    import types

    from benchmarks.support import paired_worker

    module = types.ModuleType("counting_bench")
    module._Counting = _Counting
    monkeypatch.setitem(sys.modules, "counting_bench", module)
    monkeypatch.setattr(_Counting, "track_it", lambda self, *params: self.value, raising=False)
    _Counting.reset()
    assert paired_worker.prepare("counting_bench", "_Counting", "track_it", ["numpy", "cpu", 2])() == 2
    assert _Counting.warmed == []
    paired_worker.prepare("counting_bench", "_Counting", "time_it", ["numpy", "cpu", 1])()
    assert _Counting.warmed == [(1, 0)]


class _TwoCalls(common.BackendBenchmark):
    params = [["numpy"], ["cpu"]]
    param_names = ["backend", "device"]
    kind = "a"

    @classmethod
    def reset(cls):
        cls.warmed, cls.piloted = [], []

    def warm_up(self):
        type(self).warmed.append(self.kind)

    def sample_call(self):
        type(self).piloted.append(self.kind)

    def time_a(self, *params):
        pass

    @common.timed_with(kind="b")
    def time_b(self, *params):
        pass


@pytest.mark.parametrize("method", ["time_a", "time_b"])
def test_a_time_method_warms_up_and_sizes_its_own_call(method, monkeypatch):
    pytest.importorskip("pyhf")
    import types

    from asv_runner.discovery import _get_benchmark
    from benchmarks.support import paired_worker

    module = types.ModuleType("benchmarks.two_calls")
    module._TwoCalls = _TwoCalls
    monkeypatch.setitem(sys.modules, module.__name__, module)
    kind = method[-1]
    _TwoCalls.reset()
    benchmark = _get_benchmark(method, module, _TwoCalls, getattr(_TwoCalls, method))
    assert benchmark.name == f"two_calls._TwoCalls.{method}"
    benchmark.set_param_idx(0)
    assert not benchmark.do_setup() and benchmark.number >= 1
    assert _TwoCalls.warmed == [kind] and set(_TwoCalls.piloted) == {kind}
    _TwoCalls.reset()
    paired_worker.prepare(module.__name__, "_TwoCalls", method, ["numpy", "cpu"])()
    assert _TwoCalls.warmed == [kind]
    assert _TwoCalls.kind == "a"  # set on the instance, never on the class


def test_setting_the_active_backend_again_is_a_no_op(monkeypatch):
    pyhf = pytest.importorskip("pyhf")
    calls = []
    real = pyhf.set_backend
    monkeypatch.setattr(pyhf, "set_backend", lambda *a, **k: (calls.append(a[0]), real(*a, **k)))
    monkeypatch.setattr(backends, "_active", None)
    backends.activate("numpy", "cpu")
    backends.activate("numpy", "cpu")
    assert calls == ["numpy"]
    backends.activate("numpy", "cpu", precision="32b")
    assert calls == ["numpy", "numpy"] and pyhf.tensorlib.precision == "32b"
    backends.activate("numpy", "cpu")


def test_an_unchanged_thread_limit_is_not_applied_again_unless_forced(monkeypatch):
    import threadpoolctl

    applied = []
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda limits: applied.append(limits))
    monkeypatch.setattr(threads, "_limited_to", None)
    threads.limit_threads(1)
    threads.limit_threads(1)
    threads.limit_threads(2)
    threads.limit_threads(2, force=True)
    assert applied == [1, 2, 2]


def test_libraries_loaded_by_the_preparation_or_the_warm_up_get_the_thread_limit(monkeypatch):
    pytest.importorskip("pyhf")
    limits = []
    monkeypatch.setattr(threads, "limit_threads",
                        lambda count, force=False: limits.append((count, force)))
    monkeypatch.setattr(threads, "configured_threads", lambda: 1)
    _Counting.reset()
    bench = _Counting()
    bench.setup("numpy", "cpu", 1)
    assert limits == [(1, False), (1, True)]  # the setup's, then again after setup_once
    del limits[:]
    bench.warm_once()
    bench.warm_once()
    assert _Counting.warmed == [(1, 0)] and limits == [(1, True)]  # once, after warm_up


# --------------------------------------------------------------------------- quick suite


class _Declared:
    params = [["numpy", "jax"], ["cpu", "gpu"], [1, 10]]
    param_names = ["backend", "device", "n"]
    quick_params = {"device": ["cpu"]}

    def time_all(self, *p):
        pass

    @suite.quick(backend=["numpy"], device=["cpu"], n=[10])
    def time_one(self, *p):
        pass


class _NotQuick:
    params = [["numpy"]]
    param_names = ["backend"]

    def track_x(self, *p):
        pass


def test_quick_declarations_select_exact_combinations():
    regexes = suite.quick_regexes([("benchmarks.bench_x", _Declared), ("benchmarks.bench_x", _NotQuick)])
    names = [f"bench_x._Declared.{m}({', '.join(map(repr, c))})"
             for m in ("time_all", "time_one") for c in itertools.product(*_Declared.params)]
    chosen = [n for n in names if any(re.search(r, n) for r in regexes)]
    assert chosen == [
        "bench_x._Declared.time_all('numpy', 'cpu', 1)", "bench_x._Declared.time_all('numpy', 'cpu', 10)",
        "bench_x._Declared.time_all('jax', 'cpu', 1)", "bench_x._Declared.time_all('jax', 'cpu', 10)",
        "bench_x._Declared.time_one('numpy', 'cpu', 10)",  # the method's declaration wins
    ]
    assert not any(re.search(r, "bench_x._NotQuick.track_x('numpy')") for r in regexes)


def test_a_quick_declaration_of_an_unknown_parameter_is_an_error():
    class Wrong(_Declared):
        quick_params = {"bins": [1]}

    with pytest.raises(ValueError, match="unknown parameters"):
        suite.quick_regexes([("benchmarks.bench_x", Wrong)])


def test_the_hosts_quick_suite_is_the_classes_declarations(monkeypatch):
    regexes = mainjob.quick_suite()
    assert regexes == suite.quick_regexes(suite.suite_classes())
    monkeypatch.setattr(mainjob, "gpu_present", lambda: True)
    assert machines.bench_regexes(quick_suite=True) == regexes


def test_a_quick_run_limits_a_setup_cache_to_the_quick_combinations(monkeypatch):
    from benchmarks import bench_gpu_study, bench_utilization
    from benchmarks.support import utilization

    asked = []
    monkeypatch.setattr(bench_gpu_study, "measure_all", lambda *a: asked.append(a) or {})
    monkeypatch.setattr(utilization, "measure_all", lambda *a: asked.append(a) or {})
    for name in ("PYHF_BENCH_STUDY_BACKENDS", "PYHF_BENCH_STUDY_DEVICES", "PYHF_BENCH_STUDY_BATCH_SIZES"):
        monkeypatch.delenv(name, raising=False)

    monkeypatch.delenv(suite.QUICK_RUN_ENV, raising=False)
    bench_gpu_study._study_cache(None)
    bench_utilization.FitUtilization().setup_cache()
    assert asked == [(None, None, None, None, False), ("fit", None)]  # a whole-suite run: everything

    asked.clear()
    monkeypatch.setenv(suite.QUICK_RUN_ENV, "1")
    bench_gpu_study._study_cache(None)
    bench_utilization.FitUtilization().setup_cache()
    assert asked == [(["numpy"], ["cpu"], [1, 1000], ["64b"], False), ("fit", ["numpy"])]


def test_the_quick_suite_runs_are_told_they_are_quick(tmp_path, monkeypatch):
    monkeypatch.delenv(suite.QUICK_RUN_ENV, raising=False)
    assert suite.quick_limits(bench_toys_class(), "time_toybased_hypotest") == {}
    monkeypatch.setenv(suite.QUICK_RUN_ENV, "1")
    assert suite.quick_limits(bench_toys_class(), "time_toybased_hypotest") == {
        "backend": ["numpy"], "device": ["cpu"]}


def bench_toys_class():
    from benchmarks.bench_toys import ToyBasedCLs

    return ToyBasedCLs


# --------------------------------------------------------------------------- launch method, asv_runner


def test_forkserver_only_where_cuda_cannot_be_initialised():
    assert asvconf.launch_method_for(gpu=False) == "forkserver"
    assert asvconf.launch_method_for(gpu=True) == "spawn"
    assert asvconf.launch_method_for("cuda", gpu=False) == "spawn"
    assert asvconf.derive_config(gpu=False)["launch_method"] == "forkserver"
    assert asvconf.derive_config(matrix="cuda", gpu=False)["launch_method"] == "spawn"
    assert asvconf.derive_config(launch_method="spawn", gpu=False)["launch_method"] == "spawn"


def test_asv_runner_is_pinned_in_every_preset():
    committed = asvconf.load_committed_config()
    assert committed["matrix"]["req"]["pip+asv_runner"] == [asvconf.ASV_RUNNER_PIN]
    for preset in asvconf.MATRIX_PRESETS:
        config = asvconf.derive_config(matrix=preset, gpu=False)
        assert config["matrix"]["req"]["pip+asv_runner"] == [asvconf.ASV_RUNNER_PIN], preset


def test_the_pinned_asv_runner_behaves_as_the_sampling_assumes():
    """Setup before every timed call with number > 1 (asv#966), exactly ``repeat`` samples."""
    import importlib.metadata

    from asv_runner.benchmarks.time import TimeBenchmark

    assert importlib.metadata.version("asv_runner") == asvconf.ASV_RUNNER_PIN
    log = []

    class Bench:
        number, repeat, warmup_time, rounds = 3, (4, 4, 0.0), 0.0, 1

        def setup(self):
            log.append("setup")

        def time_it(self):
            log.append("call")

    instance = Bench()
    bench = TimeBenchmark("m.Bench.time_it", instance.time_it, [instance.time_it, instance])
    assert not bench.do_setup()
    result = bench.run()
    assert len(result["samples"]) == 4 and result["number"] == 3
    calls = log[1:]
    assert calls.count("call") == 12 and "call" not in [a for a, b in zip(calls, calls[1:]) if b == "call"]


def test_frameworks_are_preimported_only_in_asvs_forkserver(monkeypatch):
    assert preimport.in_forkserver_process(["benchmark.py", "run_server", "dir", "sock"])
    assert not preimport.in_forkserver_process(["benchmark.py", "run", "dir", "name"])
    assert preimport.in_forkserver(["benchmark.py", "run", "dir", "name"]) == []
    present = {"numpy", "pyhf", "jax", "jax.numpy", "pyhf.tensor.jax_backend", "torch"}
    monkeypatch.setattr(preimport, "_findable", lambda name: name in present)
    names = preimport.modules_to_preimport()
    assert "jax" in names and "pyhf.tensor.jax_backend" in names
    assert "torch" not in names  # this pyhf has no pytorch backend: nothing to gain
    monkeypatch.setattr(preimport, "modules_to_preimport", lambda: ["json", "no_such_module_here"])
    assert preimport.in_forkserver(["benchmark.py", "run_server"]) == ["json"]
    assert "no_such_module_here" not in sys.modules


def test_the_cost_breakdown_reads_asvs_durations_and_setup_caches(tmp_path):
    from asv.results import Results
    from asv.runner import BenchmarkResult
    from pyhfbench import results as resultslib, suitecost

    nan = float("nan")
    result = Results({"machine": "box", "python": "3.11"}, {}, "a" * 40, 0, "3.11", "env", {})
    for name, params, values, samples, number, duration in [
            ("bench_fit.Fit.time_fit", [["'numpy'", "'jax'"]], [0.5, nan],
             [[0.5, 0.5, 0.5], None], [2, None], 12.0),
            ("bench_fit.Fit.track_nll", [["'numpy'"]], [None], [None], [None], 3.0),
            ("bench_fit.Fit.time_wide", [["'numpy'"]], [1.0],
             [[1.0, 0.8, 1.0, 1.6, 1.0, 1.2, 1.0]], [1], 9.0)]:
        result.add_result({"name": name, "params": params, "version": "1"},
                          BenchmarkResult(result=values, samples=samples, number=number,
                                          errcode=0, stderr="", profile=None),
                          duration=duration, record_samples=True)
    result.set_build_duration(5.0)
    result.set_setup_cache_duration("bench_fit:40", 7.0)
    result.save(str(tmp_path))
    modules, other = suitecost.breakdown(resultslib.load_file(next(tmp_path.rglob("*env.json"))))
    fit = modules["bench_fit"]
    assert (fit["wall_s"], fit["cache_s"]) == (24.0, 7.0) and fit["timed_s"] == pytest.approx(10.6)
    assert (fit["measured"], fit["skipped"], fit["failed"]) == (2, 1, 1)
    assert other == {"<build>": 5.0}
    # Interquartile range over median, widest first; only measured time_ combinations.
    spreads = suitecost.spreads(resultslib.load_file(next(tmp_path.rglob("*env.json"))))
    assert [label for _, label in spreads] == ["bench_fit.Fit.time_wide('numpy')",
                                               "bench_fit.Fit.time_fit('numpy')"]
    assert spreads[0][0] > 0.05 and spreads[1][0] == 0


# --------------------------------------------------------------------------- track_ results once


class _CountingResults(common.ResultsOnce):
    params = [["numpy"], ["cpu"], [1, 2, 3]]
    param_names = ["backend", "device", "n"]
    prepared = []

    def setup_cache(self):
        return track_results.compute(_CountingResults)

    def setup_once(self, backend, device, n):
        type(self).prepared.append(n)
        if n == 3:
            raise pyhf_compat.RemovedFromPyhf("gone at this commit")
        self.value = n

    def sample_call(self):
        pass

    def results(self):
        return {"double": 2 * self.value}

    def time_it(self, *params):
        pass

    @suite.quick(n=[2])
    def track_double(self, *params):
        return self.result("double")


def test_track_results_are_computed_once_per_combination_in_the_setup_cache(monkeypatch):
    pytest.importorskip("pyhf")
    from asv_runner.benchmarks.time import TimeBenchmark
    from asv_runner.benchmarks.track import TrackBenchmark

    monkeypatch.setenv(settings.SELECTION, "[]")
    _CountingResults.prepared = []
    cache = _CountingResults().setup_cache()
    assert _CountingResults.prepared == [1, 2, 3]
    assert cache[track_results.key("numpy", "cpu", 1)] == {"status": "ok", "results": {"double": 2}}

    # A track_ process reads the cache and prepares nothing.
    _CountingResults.prepared = []
    instance = _CountingResults()
    tracked = TrackBenchmark("m._CountingResults.track_double", instance.track_double,
                             [instance.track_double, instance])
    tracked.set_param_idx(1)
    tracked._current_params = [cache, *tracked._current_params]
    assert not tracked.do_setup() and tracked.run(*tracked._current_params) == 4
    assert _CountingResults.prepared == []

    # A time_ process prepares at asv's first read of number, not in setup.
    instance = _CountingResults()
    instance.setup(cache, "numpy", "cpu", 1)
    assert _CountingResults.prepared == []
    assert instance.number >= 1 and _CountingResults.prepared == [1]

    # Under --quick asv fixes number and repeat: the time_ process still prepares before its
    # one timed call, at asv's read of min_run_count.
    class Quick:
        number, repeat, warmup_time, rounds = 1, 1, 0, 1

    instance = _CountingResults()
    instance.time_it = lambda *params: instance.value  # fails unless prepared
    timed = TimeBenchmark("m._CountingResults.time_it", instance.time_it,
                          [Quick, instance.time_it, instance])
    timed.set_param_idx(1)
    timed._current_params = [cache, *timed._current_params]
    assert not timed.do_setup() and _CountingResults.prepared == [1, 2]
    assert len(timed.run(*timed._current_params)["samples"]) == 1

    # A skip in the preparation is the same skip, of the same kind, in every method's setup.
    with pytest.raises(pyhf_compat.RemovedFromPyhf, match="gone") as raised:
        _CountingResults().setup(cache, "numpy", "cpu", 3)
    assert pyhf_compat.skip_kind(raised.value) == "removed"

    # Without the combination in the cache (not selected, or no cache): prepared as before.
    instance = _CountingResults()
    instance.setup(None, "numpy", "cpu", 2)
    assert _CountingResults.prepared == [1, 2, 2] and instance.track_double() == 4


def test_the_track_results_cache_computes_only_what_the_run_selected(monkeypatch):
    monkeypatch.delenv(settings.QUICK_SUITE, raising=False)
    every = [("numpy", "cpu", n) for n in (1, 2, 3)]
    assert track_results.combinations(_CountingResults, selection=[]) == every
    name = r"test_suite_cost\._CountingResults\.track_double"
    assert track_results.combinations(_CountingResults, selection=[name + "$"]) == every
    assert track_results.combinations(
        _CountingResults, selection=[name + r"\('numpy', 'cpu', 3\)"]) == [every[2]]
    # A run of time_ methods only needs no track_ results.
    assert track_results.combinations(_CountingResults, selection=["time_it"]) == []
    monkeypatch.setenv(settings.SELECTION, json.dumps([r"\(.*1\)$"]))
    assert track_results.combinations(_CountingResults) == [every[0]]
    monkeypatch.setenv(settings.SELECTION, "[]")
    monkeypatch.setenv(settings.QUICK_SUITE, "1")
    assert track_results.combinations(_CountingResults) == [every[1]]
    # A bare asv run, not told its selection: no setup_cache work; each track_ process its own.
    monkeypatch.delenv(settings.SELECTION)
    assert track_results.combinations(_CountingResults) == []


def test_the_host_passes_its_bench_selection_to_the_benchmarks(tmp_path):
    from pyhfbench import results

    env = results.run_context_env(tmp_path, "m", ["^bench_fit", "track_"])
    assert settings.selection(env) == ["^bench_fit", "track_"]
    assert settings.selection(results.run_context_env(tmp_path, "m")) == []
    assert settings.selection({}) is None
    with pytest.raises(ValueError, match=settings.SELECTION):
        settings.selection({settings.SELECTION: "not json"})


def test_the_paired_worker_does_not_compute_the_track_results_for_a_time_method(monkeypatch):
    pytest.importorskip("pyhf")
    import types

    from benchmarks.support import paired_worker

    module = types.ModuleType("counting_results_bench")
    module._CountingResults = _CountingResults
    monkeypatch.setitem(sys.modules, "counting_results_bench", module)
    _CountingResults.prepared = []
    paired_worker.prepare("counting_results_bench", "_CountingResults", "time_it", ["numpy", "cpu", 1])()
    assert _CountingResults.prepared == [1]  # its own combination only, no setup_cache
