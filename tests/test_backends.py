"""Selecting backends and devices; skips carry their reason."""

import pyhf
import pytest

from benchmarks.support import backends, threads


def test_numpy_on_cpu_becomes_pyhfs_tensorlib():
    tensorlib = backends.activate("numpy", "cpu")
    assert tensorlib.name == "numpy" and pyhf.tensorlib is tensorlib


@pytest.mark.parametrize(
    "backend, reason",
    [
        ("numpy", "CPU only"),
        ("jax", "jax sees no gpu"),
        ("pytorch", "no CUDA device"),
        ("tensorflow", "tensorflow sees no GPU"),
    ],
)
def test_gpu_without_a_gpu_is_a_skip_with_the_reason(backend, reason):
    with pytest.raises(NotImplementedError, match=reason):
        backends.activate(backend, "gpu")
    backends.activate("numpy", "cpu")


@pytest.mark.parametrize("backend", ["jax", "pytorch"])
def test_cpu_backends_run_and_agree_with_numpy(backend):
    def cls_obs():
        model = pyhf.simplemodels.uncorrelated_background([5.0, 6.0], [50.0, 52.0], [5.0, 6.0])
        data = pyhf.tensorlib.astensor([51.0, 48.0] + model.config.auxdata)
        return float(backends.wait_for_device(
            pyhf.tensorlib.name, pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde")
        ))

    backends.activate("numpy", "cpu")
    expected = cls_obs()
    backends.activate(backend, "cpu")
    assert cls_obs() == pytest.approx(expected, rel=1e-5)
    backends.activate("numpy", "cpu")


def test_minuit_optimizer_is_selected():
    backends.activate("numpy", "cpu", optimizer="minuit")
    assert pyhf.optimizer.name == "minuit"
    backends.activate("numpy", "cpu")


def test_unknown_device_and_optimizer_are_errors():
    with pytest.raises(ValueError, match="unknown device"):
        backends.activate("numpy", "tpu")
    with pytest.raises(ValueError, match="unknown optimizer"):
        backends.make_optimizer("adam")


def test_thread_limit_is_applied_and_recorded(monkeypatch):
    import numpy  # noqa: F401  (loads BLAS so threadpoolctl sees it)

    monkeypatch.setenv("PYHF_BENCH_THREADS", "1")
    threads.limit_threads(threads.configured_threads())
    assert threads.blas_threads_in_use() == 1


@pytest.mark.parametrize("value", ["0", "two"])
def test_bad_thread_setting_is_refused(monkeypatch, value):
    monkeypatch.setenv("PYHF_BENCH_THREADS", value)
    with pytest.raises(ValueError, match="PYHF_BENCH_THREADS"):
        threads.configured_threads()
