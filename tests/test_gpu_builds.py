"""A GPU host measured with CPU builds fails its GPU combinations with what to do (NVML faked).

The host environment here has torch 2.13.0+cpu and jax without a CUDA plugin: exactly what the
committed asv.conf.json installs, so a plain ``asv run`` on a GPU host meets this.
"""

import importlib.metadata

import pytest

from benchmarks.support import backends, gpu_builds, monitor
from helpers.monitor_fakes import FakeGpu, install_fake_nvml


def fake_versions(monkeypatch, versions):
    def version(name):
        if name in versions:
            return versions[name]
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(gpu_builds.importlib.metadata, "version", version)


@pytest.mark.parametrize("versions, backend, expected", [
    ({"torch": "2.13.0+cpu"}, "pytorch", "torch 2.13.0+cpu is a CPU build"),
    ({"torch": "2.11.0"}, "pytorch", None),
    ({"torch": "2.11.0+cu130"}, "pytorch", None),
    ({"jax": "0.10.2", "jaxlib": "0.10.2"}, "jax", "has no CUDA plugin"),
    ({"jax": "0.11.0", "jaxlib": "0.11.0", "jax-cuda13-plugin": "0.11.0"}, "jax", None),
    ({"jaxlib": "0.4.23+cuda12.cudnn89"}, "jax", None),
    ({"tensorflow-cpu": "2.21.0"}, "tensorflow", "tensorflow-cpu 2.21.0 is a CPU build"),
    ({"tensorflow": "2.21.0"}, "tensorflow", None),
    ({}, "pytorch", None),
    ({}, "numpy", None),
])
def test_cpu_builds_are_read_from_metadata(monkeypatch, versions, backend, expected):
    fake_versions(monkeypatch, versions)
    reason = gpu_builds.cpu_build_reason(backend)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


@pytest.mark.parametrize("backend", ["jax", "pytorch"])
def test_gpu_combination_on_a_gpu_host_with_cpu_builds_fails_with_the_instruction(
        monkeypatch, tmp_path, backend):
    assert gpu_builds.cpu_build_reason(backend), "the host environment should have CPU builds"
    install_fake_nvml(monkeypatch, [FakeGpu(0, "NVIDIA H200")])
    monkeypatch.delenv(monitor.EXPECT_GPU_ENV, raising=False)
    trouble = tmp_path / "trouble.jsonl"
    monkeypatch.setenv(monitor.GPU_TROUBLE_FILE_ENV, str(trouble))
    with pytest.raises(monitor.GpuTrouble) as raised:
        backends.activate(backend, "gpu")
    assert not isinstance(raised.value, NotImplementedError)  # a failure, never n/a
    message = str(raised.value)
    assert "\n" not in message and "scripts/asvconf --matrix cuda" in message
    assert "CPU build" in message or "no CUDA plugin" in message
    assert "scripts/asvconf --matrix cuda" in trouble.read_text()  # the nightly reads this
    backends.activate(backend, "cpu")  # the CPU combinations still run
    backends.activate("numpy", "cpu")


def test_without_a_gpu_the_gpu_combination_stays_a_skip(monkeypatch):
    import pynvml

    install_fake_nvml(monkeypatch, [], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    monkeypatch.delenv(monitor.EXPECT_GPU_ENV, raising=False)
    with pytest.raises(NotImplementedError, match="no NVIDIA GPU"):
        backends.activate("pytorch", "gpu")
