"""Whether this environment's frameworks are CPU builds, read from package metadata.

On a machine where NVML sees an NVIDIA GPU, a CPU build of torch or a jax
without a CUDA plugin would turn every GPU combination into a skip (n/a):
a plain ``asv run`` with the committed configuration (torch ``+cpu``) would
measure the CPU only and say nothing. ``backends.activate`` asks here first
and fails such combinations with one line that says what to do instead.

Only ``importlib.metadata`` is read: nothing is imported, CUDA is not touched.
"""

import importlib.metadata
import re

#: What to do on a GPU host whose environment has CPU builds (see docs/gpu-hosts.md).
INSTRUCTION = ("benchmark a GPU host with CUDA builds: scripts/asvconf --matrix cuda --output "
               ".asv/cuda.json, then asv run --config .asv/cuda.json (offline node: "
               "scripts/offline-bench, docs/gpu-hosts.md)")

#: Distributions that give jax a CUDA backend (jaxlib itself carried CUDA up to 0.4.x as "+cuda").
JAX_CUDA_PLUGINS = ("jax-cuda13-plugin", "jax-cuda12-plugin", "jax-cuda11-plugin",
                    "jax-rocm60-plugin")


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _torch():
    version = _version("torch")
    if version is None:
        return None
    if re.search(r"\+cpu\b", version):
        return f"torch {version} is a CPU build"
    return None


def _jax():
    version = _version("jaxlib")
    if version is None or "+cuda" in version or "+rocm" in version:
        return None
    if any(_version(plugin) for plugin in JAX_CUDA_PLUGINS):
        return None
    return f"jax (jaxlib {version}) has no CUDA plugin ({JAX_CUDA_PLUGINS[0]} or {JAX_CUDA_PLUGINS[1]})"


def _tensorflow():
    # Only the CPU-only distribution: a tensorflow wheel without the [and-cuda] libraries may
    # still find a system CUDA (HPC nodes), and activate's own check skips or fails it then.
    version = _version("tensorflow-cpu")
    return f"tensorflow-cpu {version} is a CPU build" if version else None


_CHECKS = {"jax": _jax, "pytorch": _torch, "tensorflow": _tensorflow, "numpy": lambda: None}


def cpu_build_reason(backend):
    """Why ``backend``'s framework cannot use a GPU in this environment, or None (a CUDA build,
    not installed, or a backend without a GPU)."""
    return _CHECKS[backend]()


def cpu_build_on_gpu_host_message(backend, reason):
    return f"NVML sees an NVIDIA GPU here, but {reason}: the {backend} GPU combination would " \
           f"measure nothing; {INSTRUCTION}"
