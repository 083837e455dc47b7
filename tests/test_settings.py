"""The PYHF_BENCH_* variables: defaults, and a clear message for a bad value."""

from pathlib import Path

import pytest

from benchmarks.support import settings


def test_defaults_with_nothing_set():
    assert settings.suite_size({}) == "quick"
    assert settings.blas_threads({}) == settings.DEFAULT_THREADS
    assert settings.samples_wanted({}) == settings.DEFAULT_SAMPLES
    assert settings.monitor_interval({}) == settings.DEFAULT_MONITOR_INTERVAL
    assert settings.monitor_seconds({}) == settings.DEFAULT_MONITOR_SECONDS
    assert not settings.in_quick_run({})
    assert not settings.gpu_expected({})
    for read in (settings.machine, settings.results_dir, settings.monitor_dir,
                 settings.pallet_mirror, settings.registry_file, settings.skip_log_dir,
                 settings.gpu_trouble_file, settings.instruction_workloads):
        assert read({}) is None, read.__name__


def test_values_are_read_and_converted(tmp_path):
    env = {settings.SIZE: "full", settings.THREADS: "4", settings.SAMPLES: " 5 ",
           settings.RESULTS_DIR: str(tmp_path), settings.MACHINE: "host-h200",
           settings.EXPECT_GPU: "yes", settings.QUICK_SUITE: "1",
           settings.STUDY_BATCH_SIZES: "1, 100,,"}
    assert settings.suite_size(env) == "full"
    assert settings.blas_threads(env) == 4
    assert settings.samples_wanted(env) == 5
    assert settings.results_dir(env) == tmp_path
    assert settings.machine(env) == "host-h200"
    assert settings.gpu_expected(env) and settings.in_quick_run(env)
    assert settings.listed(settings.STUDY_BATCH_SIZES, int, env) == [1, 100]
    assert settings.listed(settings.STUDY_DEVICES, environ=env) is None


def test_cache_follows_xdg_unless_set(tmp_path):
    assert settings.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "pyhf-benchmarks"
    assert settings.cache_dir({settings.CACHE: str(tmp_path / "c")}) == Path(tmp_path / "c")


@pytest.mark.parametrize("name, value, message", [
    (settings.SIZE, "huge", "PYHF_BENCH_SIZE must be one of quick, full"),
    (settings.THREADS, "two", "PYHF_BENCH_THREADS must be a whole number"),
    (settings.THREADS, "0", "PYHF_BENCH_THREADS must be at least 1"),
    (settings.SAMPLES, "2", "PYHF_BENCH_SAMPLES must be at least 3"),
    (settings.MONITOR_INTERVAL, "0", "PYHF_BENCH_MONITOR_INTERVAL must be positive"),
    (settings.MONITOR_SECONDS, "soon", "PYHF_BENCH_MONITOR_SECONDS must be a number of seconds"),
])
def test_bad_values_name_the_variable(name, value, message):
    read = {settings.SIZE: settings.suite_size, settings.THREADS: settings.blas_threads,
            settings.SAMPLES: settings.samples_wanted,
            settings.MONITOR_INTERVAL: settings.monitor_interval,
            settings.MONITOR_SECONDS: settings.monitor_seconds}[name]
    with pytest.raises(ValueError, match=message):
        read({name: value})
