"""Selecting backends and devices; skips carry their reason."""

import importlib
import json
import os

import pyhf
import pytest

from benchmarks.support import backends, monitor, threads
from helpers.monitor_fakes import FakeGpu, install_fake_nvml, pynvml


def test_numpy_on_cpu_becomes_pyhfs_tensorlib():
    tensorlib = backends.activate("numpy", "cpu")
    assert tensorlib.name == "numpy" and pyhf.tensorlib is tensorlib


@pytest.fixture
def no_gpu_expected(monkeypatch):
    monkeypatch.delenv(monitor.EXPECT_GPU_ENV, raising=False)


@pytest.fixture
def trouble_file(monkeypatch, tmp_path):
    path = tmp_path / "gpu-trouble.jsonl"
    monkeypatch.setenv(monitor.GPU_TROUBLE_FILE_ENV, str(path))
    return path


@pytest.mark.parametrize("backend", ["jax", "pytorch", "tensorflow"])
def test_gpu_without_a_gpu_is_a_skip_with_the_reason(backend, monkeypatch, no_gpu_expected):
    # NVML faked as on a host without a driver, so this holds on a GPU host too.
    install_fake_nvml(monkeypatch, [], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    assert backends.nvidia_gpu_count() == 0
    with pytest.raises(NotImplementedError, match="no NVIDIA GPU on this machine"):
        backends.activate(backend, "gpu")
    backends.activate("numpy", "cpu")


def test_nvml_trouble_is_an_error_not_no_gpu(monkeypatch, no_gpu_expected, trouble_file):
    install_fake_nvml(monkeypatch, [], init_error=pynvml.NVML_ERROR_UNKNOWN)
    with pytest.raises(monitor.GpuTrouble, match="NVML could not start"):
        backends.nvidia_gpu_count()
    with pytest.raises(monitor.GpuTrouble):  # a failure in asv, not n/a
        backends.activate("jax", "gpu")
    assert "NVML could not start" in trouble_file.read_text()


def test_no_gpu_on_a_machine_meant_to_have_one_is_trouble(monkeypatch, trouble_file):
    monkeypatch.setenv(monitor.EXPECT_GPU_ENV, "1")
    install_fake_nvml(monkeypatch, [], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    with pytest.raises(monitor.GpuTrouble, match="meant to have a GPU.*no NVIDIA GPU"):
        backends.nvidia_gpu_count()
    record = json.loads(trouble_file.read_text().splitlines()[0])
    assert "DriverNotLoaded" in record["reason"] or "Driver Not Loaded" in record["reason"]


def test_numpy_has_no_gpu_device():
    with pytest.raises(NotImplementedError, match="CPU only"):
        backends.activate("numpy", "gpu")


def hide_the_gpu_from(backend, monkeypatch):
    """The framework cannot use the GPU NVML reports (as a CPU build of torch): faked, so that
    this holds on a GPU host too."""
    if backend == "jax":
        import jax

        def no_gpu(kind=None):
            raise RuntimeError(f"Unknown backend {kind}")

        monkeypatch.setattr(jax, "devices", no_gpu)
    elif backend == "pytorch":
        import torch

        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    else:
        import tensorflow as tf

        monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])


@pytest.mark.parametrize(
    "backend, reason",
    [
        ("jax", "jax sees no gpu"),
        ("pytorch", "no CUDA device"),
        ("tensorflow", "tensorflow sees no GPU"),
    ],
)
def test_framework_without_a_usable_gpu_is_a_skip_unless_a_gpu_is_expected(
    monkeypatch, backend, reason, trouble_file
):
    install_fake_nvml(monkeypatch, [FakeGpu(0)])
    hide_the_gpu_from(backend, monkeypatch)
    # A CUDA build that cannot reach the GPU (CPU builds fail outright: test_gpu_builds.py).
    monkeypatch.setattr(backends.gpu_builds, "cpu_build_reason", lambda backend: None)
    monkeypatch.delenv(monitor.EXPECT_GPU_ENV, raising=False)
    assert backends.nvidia_gpu_count() == 1
    with pytest.raises(NotImplementedError, match=reason):
        backends.activate(backend, "gpu")
    # On a machine meant to have a GPU that is a broken GPU, with the reason.
    monkeypatch.setenv(monitor.EXPECT_GPU_ENV, "1")
    with pytest.raises(monitor.GpuTrouble, match=f"meant to have a GPU, but .*{reason}"):
        backends.activate(backend, "gpu")
    assert reason in trouble_file.read_text()
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
    importlib.import_module("numpy")  # loads BLAS so threadpoolctl sees it

    monkeypatch.setenv("PYHF_BENCH_THREADS", "1")
    threads.limit_threads(threads.configured_threads(), force=True)  # whatever an earlier test left
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
        MaximumLikelihoodFit().setup(None, "tensorflow", "cpu", "minuit", "generated/small")
    with pytest.raises(NotImplementedError, match="PyTorch with Minuit.*PYHF_BENCH_SIZE=full"):
        MaximumLikelihoodFit().setup(None, "pytorch", "cpu", "minuit", "generated/small")
    MaximumLikelihoodFit().setup(None, "pytorch", "cpu", "scipy", "generated/small")

    monkeypatch.setattr(common, "SUITE_SIZE", "full")
    bench = MaximumLikelihoodFit()
    bench.setup(None, "numpy", "cpu", "minuit", "generated/small")  # outside the table: runs in both
    assert bench.optimizer == "minuit"
    backends.activate("numpy", "cpu")


REUSE_CHECK = """
import json, sys
sys.path.insert(0, {root!r})
from benchmarks.support import backends
import jax
print(json.dumps([str(backends.reuse_compilations("numpy")), str(backends.reuse_compilations("jax")),
                  jax.config.jax_compilation_cache_dir,
                  jax.config.jax_persistent_cache_min_compile_time_secs]))
"""


@pytest.mark.parametrize("setting, expected", [("", "jax-compilation-cache"), ("0", None)])
def test_jax_keeps_its_compilations_for_the_next_benchmark_process_unless_turned_off(
        tmp_path, setting, expected):
    pytest.importorskip("jax")
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYHF_BENCH_CACHE=str(tmp_path), PYHF_BENCH_JAX_CACHE=setting)
    out = subprocess.run([sys.executable, "-c", REUSE_CHECK.format(root=root)], env=env,
                         capture_output=True, text=True, check=True).stdout
    numpy_folder, jax_folder, configured, min_seconds = json.loads(out.splitlines()[-1])
    assert numpy_folder == "None"  # other backends: nothing set
    if expected is None:
        assert jax_folder == "None" and configured is None
    else:
        assert jax_folder == configured == str(tmp_path / expected) and min_seconds == 0


def test_the_cold_start_does_not_load_earlier_compilations():
    from benchmarks.bench_hypotest import AsymptoticCLsColdStart

    code, setup = AsymptoticCLsColdStart().timeraw_hypotest_cold("jax", "cpu", "sbottom/RegionB")
    assert "reuse_compilations" not in code + setup and "compilation_cache" not in code + setup
