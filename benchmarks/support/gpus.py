"""NVIDIA GPUs through NVML: which this process sees, and trouble with them.

``open_nvml`` lists the GPUs CUDA_VISIBLE_DEVICES leaves visible; ``gpu_inventory``
describes them. "No GPU here" (no nvidia-ml-py, no driver, no device) is
``GpuUnavailable``; a GPU that is there, or meant to be (``PYHF_BENCH_EXPECT_GPU``),
and cannot be reached is ``GpuTrouble``, recorded for scripts/nightly in
``$PYHF_BENCH_GPU_TROUBLE_FILE``: a failure, never "no GPU".

NVML and CUDA are never touched at import time: call these in a spawned process or a
tool. Nothing here is a benchmark: no name starts with an asv benchmark prefix.
"""

import importlib
import json
import os

from . import settings


class GpuUnavailable(RuntimeError):
    """No NVIDIA GPU here (no nvidia-ml-py, no driver, no device); the message says why."""


class GpuTrouble(RuntimeError):
    """A GPU is there, or meant to be, and cannot be reached: a failure, never "no GPU".

    NVML errors other than "no driver/library" (NVML_ERROR_UNKNOWN, GPU_IS_LOST,
    NO_PERMISSION, ...), and, where this machine is meant to have a GPU
    (``PYHF_BENCH_EXPECT_GPU``), any reason there would be none.
    """


#: Set (to 1) by scripts/nightly for a machine meant to have a GPU: no GPU is then trouble.
EXPECT_GPU_ENV = settings.EXPECT_GPU
#: Where GPU trouble is recorded (JSON lines), so that scripts/nightly can say why the night
#: broke: asv keeps no stderr in its results.
GPU_TROUBLE_FILE_ENV = settings.GPU_TROUBLE_FILE
#: nvmlInit errors that mean there is no NVIDIA GPU here at all.
_NO_GPU_HERE = ("NVML_ERROR_LIBRARY_NOT_FOUND", "NVML_ERROR_DRIVER_NOT_LOADED")


def gpu_expected(environ=os.environ):
    return settings.gpu_expected(environ)


def record_gpu_trouble(reason):
    """Append ``reason`` to the trouble file scripts/nightly reads (if it set one)."""
    path = settings.gpu_trouble_file()
    if path:
        try:
            with open(path, "a") as handle:
                handle.write(json.dumps({"pid": os.getpid(), "reason": reason}) + "\n")
        except OSError:
            pass


def gpu_trouble(reason):
    """A GpuTrouble for ``reason``, recorded for scripts/nightly."""
    record_gpu_trouble(reason)
    return GpuTrouble(reason)


def _no_gpu(reason):
    """GpuUnavailable, or GpuTrouble where this machine is meant to have a GPU."""
    if gpu_expected():
        return gpu_trouble(f"this machine is meant to have a GPU ({EXPECT_GPU_ENV}), but {reason}")
    return GpuUnavailable(reason)


def _nvml_error_names(nvml, names):
    return {getattr(nvml, name) for name in names if hasattr(nvml, name)}


def _describe_error(err):
    return f"{type(err).__name__}: {err}"


def _visible_indices(nvml, count):
    """The NVML indices CUDA_VISIBLE_DEVICES leaves visible (all when unset)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    chosen = []
    for item in (part.strip() for part in visible.split(",")):
        if not item:
            continue
        if item.isdigit():
            if int(item) >= count:
                break  # CUDA stops at the first invalid entry
            chosen.append(int(item))
        else:
            for index in range(count):
                uuid = str(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(index)))
                if uuid.startswith(item) and index not in chosen:
                    chosen.append(index)
                    break
            else:
                break
    return chosen


def open_nvml():
    """Initialise NVML; return (pynvml, [(index, handle), ...]) for the visible GPUs.

    Raises GpuUnavailable with the reason where there is none. The caller
    must call ``pynvml.nvmlShutdown()`` once done.
    """
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError:
        raise _no_gpu("nvidia-ml-py (module pynvml) is not installed") from None
    try:
        nvml.nvmlInit()
    except Exception as err:
        reason = f"NVML could not start ({_describe_error(err)})"
        no_gpu_codes = _nvml_error_names(nvml, _NO_GPU_HERE)
        if getattr(err, "value", None) in no_gpu_codes:
            raise _no_gpu(f"no NVIDIA GPU: {reason}") from None
        raise gpu_trouble(reason) from None  # a driver that errs is not "no GPU"
    try:
        count = nvml.nvmlDeviceGetCount()
        indices = _visible_indices(nvml, count)
        handles = [(index, nvml.nvmlDeviceGetHandleByIndex(index)) for index in indices]
    except Exception as err:
        _shutdown(nvml)
        raise gpu_trouble(f"NVML could not list the GPUs ({_describe_error(err)})") from None
    if not handles:
        _shutdown(nvml)
        why = "CUDA_VISIBLE_DEVICES hides them all" if count else "NVML reports 0 devices"
        raise _no_gpu(f"no NVIDIA GPU: {why}")
    return nvml, handles


def _shutdown(nvml):
    try:
        nvml.nvmlShutdown()
    except Exception:
        pass


def _decode(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe_gpu(nvml, index, handle):
    info = {"index": index, "name": None, "uuid": None, "memory_total": None}
    for key, call in (("name", lambda: _decode(nvml.nvmlDeviceGetName(handle))),
                      ("uuid", lambda: _decode(nvml.nvmlDeviceGetUUID(handle))),
                      ("memory_total", lambda: int(nvml.nvmlDeviceGetMemoryInfo(handle).total))):
        try:
            info[key] = call()
        except Exception:
            pass
    return info


def gpu_inventory():
    """{"gpus": [{index, name, uuid, memory_total}, ...], "reason": None or why there are none}.

    Opens and closes NVML; call it only in a spawned process or a tool, never at import.
    Raises GpuTrouble where NVML errs (or a GPU is expected and missing): never "no GPU".
    """
    try:
        nvml, handles = open_nvml()
    except GpuUnavailable as err:
        return {"gpus": [], "reason": str(err)}
    try:
        return {"gpus": [_describe_gpu(nvml, i, h) for i, h in handles], "reason": None}
    finally:
        _shutdown(nvml)


def gpu_unavailable_reason():
    """None where NVML sees an NVIDIA GPU, else why not."""
    inventory = gpu_inventory()
    return None if inventory["gpus"] else inventory["reason"]
