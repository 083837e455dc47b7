"""Selecting backends and devices; skips carry their reason."""

import pyhf
import pytest

from benchmarks.support import backends, threads


def test_numpy_on_cpu_becomes_pyhfs_tensorlib():
    tensorlib = backends.activate("numpy", "cpu")
    assert tensorlib.name == "numpy" and pyhf.tensorlib is tensorlib


@pytest.mark.parametrize("backend", ["jax", "pytorch", "tensorflow"])
def test_gpu_without_a_gpu_is_a_skip_with_the_reason(backend):
    with pytest.raises(NotImplementedError, match="no NVIDIA GPU on this machine"):
        backends.activate(backend, "gpu")
    backends.activate("numpy", "cpu")


def test_numpy_has_no_gpu_device():
    with pytest.raises(NotImplementedError, match="CPU only"):
        backends.activate("numpy", "gpu")


@pytest.mark.parametrize(
    "backend, reason",
    [
        ("jax", "jax sees no gpu"),
        ("pytorch", "no CUDA device"),
        ("tensorflow", "tensorflow sees no GPU"),
    ],
)
def test_framework_without_a_usable_gpu_is_a_skip_even_where_nvml_sees_one(
    monkeypatch, backend, reason
):
    # A GPU the driver reports (NVML faked) but the framework cannot use (a CPU build of torch).
    import pynvml

    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 1)
    assert backends.nvidia_gpu_count() == 1
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


def test_pairs_outside_the_quick_budget_skip_with_the_reason_only_in_the_quick_suite(monkeypatch):
    from benchmarks import common
    from benchmarks.bench_fit import MaximumLikelihoodFit

    monkeypatch.setattr(common, "SUITE_SIZE", "quick")
    with pytest.raises(NotImplementedError, match="TensorFlow with Minuit.*PYHF_BENCH_SIZE=full"):
        MaximumLikelihoodFit().setup("tensorflow", "cpu", "minuit", "generated/small")

    monkeypatch.setattr(common, "SUITE_SIZE", "full")
    bench = MaximumLikelihoodFit()
    bench.setup("numpy", "cpu", "minuit", "generated/small")  # outside the table: runs in both
    assert bench.optimizer == "minuit"
    backends.activate("numpy", "cpu")
