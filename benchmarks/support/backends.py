"""Selecting a pyhf backend on a device, and waiting for the device.

Adding a backend is an edit here (how to place it on a device and how to
wait for it) and in ``pyhf_compat.BACKENDS`` (the modules it imports, the packages it
needs). asv starts every benchmark in a fresh process (``launch_method``
spawn), so the global device settings made here never leak between
benchmarks, and CUDA is only ever initialised in those spawned processes.
"""

import importlib.util

from . import gpu_builds, gpus, pyhf_compat, settings

BACKENDS = tuple(pyhf_compat.BACKENDS)
DEVICES = ("cpu", "gpu")
OPTIMIZERS = ("scipy", "minuit")
PRECISIONS = ("64b", "32b")


def _place_jax(device):
    import jax

    try:
        found = jax.devices(device)
    except RuntimeError as err:
        raise NotImplementedError(f"jax sees no {device} device: {err}") from None
    jax.config.update("jax_default_device", found[0])


def _place_pytorch(device):
    import torch

    if device == "gpu":
        if not torch.cuda.is_available():
            raise NotImplementedError("torch sees no CUDA device (or is a CPU build)")
        torch.set_default_device("cuda")
    else:
        torch.set_default_device("cpu")


def _place_tensorflow(device):
    import tensorflow as tf

    visible = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not visible:
        raise NotImplementedError("tensorflow sees no GPU")
    if device == "cpu" and visible:
        # Hide the GPUs so that every op is placed on the CPU.
        tf.config.set_visible_devices([], "GPU")


def _place_numpy(device):
    if device != "cpu":
        raise NotImplementedError("the numpy backend runs on the CPU only")


_PLACE_ON_DEVICE = {
    "numpy": _place_numpy,
    "jax": _place_jax,
    "pytorch": _place_pytorch,
    "tensorflow": _place_tensorflow,
}


def _wait_jax(result):
    import jax

    jax.block_until_ready(result)


def _wait_pytorch(result):
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _wait_tensorflow(result):
    import tensorflow as tf

    sync = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
    if sync is not None and tf.config.list_logical_devices("GPU"):
        sync()


_WAIT_FOR_DEVICE = {
    "numpy": lambda result: None,
    "jax": _wait_jax,
    "pytorch": _wait_pytorch,
    "tensorflow": _wait_tensorflow,
}


def nvidia_gpu_count():
    """GPUs NVML sees and CUDA_VISIBLE_DEVICES leaves (0 where there is no nvidia-ml-py, driver
    or device); cheap, and never initialises CUDA.

    Raises gpus.GpuTrouble where NVML errs otherwise, or where this machine is meant to
    have a GPU (PYHF_BENCH_EXPECT_GPU) and has none: trouble is never "no GPU".
    """
    try:
        nvml, handles = gpus.open_nvml()
    except gpus.GpuUnavailable:
        return 0
    gpus._shutdown(nvml)
    return len(handles)


def make_optimizer(name):
    import pyhf

    if name == "scipy":
        return pyhf.optimize.scipy_optimizer()
    if name == "minuit":
        if importlib.util.find_spec("iminuit") is None:
            raise NotImplementedError("the minuit optimizer needs iminuit, not installed")
        return pyhf.optimize.minuit_optimizer()
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")


#: The folder this process's JAX compilations are kept in and loaded from (None: not set).
_jax_cache = None


def reuse_compilations(backend, folder=None):
    """For ``backend`` jax: let JAX keep every compilation of this process on disk and load those of earlier ones.

    A fresh benchmark process otherwise compiles again, op by op, what the last one
    compiled: about 5 s per model build and 10 s per first batched logpdf here. Only
    preparation and warm-up get faster; timed calls come after them, when everything is
    compiled either way. The cold-start benchmark never calls this. Call it before
    JAX compiles anything; returns the folder, or None where it is off, for another
    backend, or where this pyhf or environment lacks JAX or JAX lacks the options.
    """
    global _jax_cache
    if backend != "jax" or importlib.util.find_spec("jax") is None:
        return None
    folder = settings.jax_compilation_cache() if folder is None else folder
    if folder is None or _jax_cache is not None:
        return _jax_cache
    import jax

    try:
        jax.config.update("jax_compilation_cache_dir", str(folder))
        # Eager ops compile in milliseconds each: keep them all, however small or quick.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except AttributeError:  # a JAX without these options
        return None
    _jax_cache = folder
    return folder


#: (backend, device, precision, optimizer) this process last activated.
_active = None


def activate(backend, device="cpu", precision="64b", optimizer="scipy"):
    """Make ``backend`` pyhf's tensor library on ``device``; return the tensorlib.

    Raises NotImplementedError, with the reason, where the commit under test,
    the environment or the machine cannot run this combination.
    """
    import pyhf

    global _active
    wanted = (backend, device, precision, optimizer)
    if _active == wanted and pyhf.tensorlib.name == backend:
        # asv reruns setup before every timed call: setting the same backend again would
        # only make pyhf rebuild every live model's tensors (its tensorlib_changed event).
        return pyhf.tensorlib
    _active = None
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; known: {', '.join(DEVICES)}")
    pyhf_compat.require_backend(backend)
    if device == "gpu" and backend != "numpy" and not nvidia_gpu_count():
        # Asking NVML is much cheaper than importing tensorflow or jax to find out.
        raise NotImplementedError("no NVIDIA GPU on this machine (NVML finds none)")
    if device == "gpu":
        cpu_build = gpu_builds.cpu_build_reason(backend)
        if cpu_build:
            # A GPU host measured with CPU builds fails (never n/a), with what to do instead.
            raise gpus.gpu_trouble(gpu_builds.cpu_build_on_gpu_host_message(backend, cpu_build))
    try:
        _PLACE_ON_DEVICE[backend](device)
    except NotImplementedError as err:
        if device == "gpu" and backend != "numpy" and gpus.gpu_expected():
            # A GPU machine whose framework cannot reach the GPU is broken, not n/a.
            raise gpus.gpu_trouble(f"this machine is meant to have a GPU, but {err}") from None
        raise
    pyhf.set_backend(backend, make_optimizer(optimizer), precision=precision)
    _active = wanted
    return pyhf.tensorlib


def wait_for_device(backend, result=None):
    """Block until ``backend`` has finished computing ``result`` (call before a timer stops)."""
    _WAIT_FOR_DEVICE[backend](result)
    return result
