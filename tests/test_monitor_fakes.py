"""The fake NVML of helpers/monitor_fakes answers as pynvml does."""

import threading

import pytest

from helpers.monitor_fakes import FakeGpu, install_fake_nvml, pynvml


def test_fake_answers_like_pynvml(monkeypatch):
    fake = install_fake_nvml(monkeypatch, [FakeGpu(0), FakeGpu(1, "Tesla V100-SXM2-16GB")])
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 2
    handle = pynvml.nvmlDeviceGetHandleByIndex(1)
    assert pynvml.nvmlDeviceGetName(handle) == "Tesla V100-SXM2-16GB"
    assert pynvml.nvmlDeviceGetUtilizationRates(handle).memory == 20
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetProcessUtilization(handle, 0)
    fake.gpus[1].fail_code, fake.gpus[1].fail_after = pynvml.NVML_ERROR_GPU_IS_LOST, 0
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        pynvml.nvmlDeviceGetMemoryInfo(handle)
    pynvml.nvmlShutdown()
    assert fake.initialised == fake.shutdowns == 1


def test_fake_blocks_until_released(monkeypatch):
    fake = install_fake_nvml(monkeypatch)
    fake.gpus[0].block = threading.Event()
    fake.gpus[0].block.set()
    assert pynvml.nvmlDeviceGetUtilizationRates(fake.gpus[0]).gpu >= 40
