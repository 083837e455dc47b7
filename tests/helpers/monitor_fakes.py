"""A fake NVML, at the level of the pynvml calls, for machines without an NVIDIA GPU.

Only the ``pynvml.nvml*`` functions the sampler calls are replaced (with
monkeypatch, on the real module); the error classes, constants and structs
are pynvml's own, so the sampler sees exactly the types a real driver gives.
psutil and everything else stay real. Test modules import
``FakeGpu`` and ``install_fake_nvml`` from here; tests/test_monitor_fakes.py tests the fake.
"""

import os

import pytest

pynvml = pytest.importorskip("pynvml")


def real_gpu_count():
    """How many GPUs the real NVML sees here (0 where there is no driver)."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return 0
    try:
        return pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()


class FakeGpu:
    def __init__(self, index, name="NVIDIA H100 80GB HBM3", memory_total=80 * 2**30):
        self.index = index
        self.name = name
        self.uuid = f"GPU-fake-{index:04d}-0000"
        self.memory_total = memory_total
        self.calls = 0
        #: raise this (an NVMLError code) from every call once ``calls`` exceeds ``fail_after``
        self.fail_code = None
        self.fail_after = None
        #: NVML error code per function name, raised on every call (NOT_SUPPORTED, ...)
        self.unsupported = {}
        #: set to a threading.Event to make nvmlDeviceGetUtilizationRates block until it is set
        self.block = None
        self.process_pids = []


class FakeNvml:
    """Per-call behaviour of a few fake GPUs. ``install`` patches pynvml with it."""

    def __init__(self, gpus=None, init_error=None):
        self.gpus = gpus if gpus is not None else [FakeGpu(0)]
        self.init_error = init_error
        self.initialised = 0
        self.shutdowns = 0

    # -- helpers

    def _gpu(self, handle, function):
        gpu = handle
        gpu.calls += 1
        if gpu.fail_code is not None and gpu.fail_after is not None and gpu.calls > gpu.fail_after:
            raise pynvml.NVMLError(gpu.fail_code)
        if function in gpu.unsupported:
            raise pynvml.NVMLError(gpu.unsupported[function])
        return gpu

    # -- the pynvml calls

    def nvmlInit(self):
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        if index >= len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle):
        return handle.name

    def nvmlDeviceGetUUID(self, handle):
        return handle.uuid

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        used = min(gpu.memory_total, (1 + gpu.calls) * 2**28)
        return pynvml.c_nvmlMemory_t(total=gpu.memory_total, free=gpu.memory_total - used, used=used)

    def nvmlDeviceGetUtilizationRates(self, handle):
        gpu = self._gpu(handle, "nvmlDeviceGetUtilizationRates")
        if gpu.block is not None:
            gpu.block.wait()
        return pynvml.c_nvmlUtilization_t(gpu=min(100, 40 + gpu.calls), memory=20)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        self._gpu(handle, "nvmlDeviceGetTemperature")
        return 55

    def nvmlDeviceGetPowerUsage(self, handle):
        self._gpu(handle, "nvmlDeviceGetPowerUsage")
        return 250000  # mW

    def nvmlDeviceGetClockInfo(self, handle, clock):
        self._gpu(handle, "nvmlDeviceGetClockInfo")
        return 1755

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
        procs = []
        for pid in gpu.process_pids:
            info = pynvml.nvmlFriendlyObject({"pid": pid, "usedGpuMemory": 3 * 2**30,
                                              "gpuInstanceId": 0, "computeInstanceId": 0})
            procs.append(info)
        return procs

    def nvmlDeviceGetProcessUtilization(self, handle, timestamp):
        gpu = self._gpu(handle, "nvmlDeviceGetProcessUtilization")
        if not gpu.process_pids:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        samples = []
        for pid in gpu.process_pids:
            sample = pynvml.c_nvmlProcessUtilizationSample_t()
            sample.pid, sample.timeStamp = pid, timestamp + 1000
            sample.smUtil, sample.memUtil = 35, 12
            samples.append(sample)
        return samples

    CALLS = ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
             "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetMemoryInfo",
             "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetTemperature",
             "nvmlDeviceGetPowerUsage", "nvmlDeviceGetClockInfo",
             "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetProcessUtilization")

    def install(self, monkeypatch):
        for name in self.CALLS:
            monkeypatch.setattr(pynvml, name, getattr(self, name))
        return self


def install_fake_nvml(monkeypatch, gpus=None, init_error=None, processes=True):
    """Patch pynvml's calls with a FakeNvml; by default GPU 0 runs this test process."""
    fake = FakeNvml(gpus, init_error)
    if processes and fake.gpus:
        fake.gpus[0].process_pids = [os.getpid()]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return fake.install(monkeypatch)


# --------------------------------------------------------------------------- the fake itself
