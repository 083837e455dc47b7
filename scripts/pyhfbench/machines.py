"""The machine a night runs on: its name (the GPU model in it) and whether it has a GPU."""

import re
import socket
import subprocess

from . import results as resultslib
from .support import support_module


def gpu_model():
    """The first NVIDIA GPU's model name, or None on a host without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return names[0] if out.returncode == 0 and names else None


def slug(text):
    """Lower case, runs of anything but letters and digits turned into one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def propose_machine_name(hostname=None, inventory=None):
    """An asv machine name that records the GPU model: ``<host>-<gpu slug>`` or ``<host>-cpu``.

    asv's machine.json has no GPU field, so the name carries it:
    ``node7-h100-80gb-hbm3``, ``node7-2x-a100-sxm4-40gb``, ``laptop-cpu``. ``inventory``:
    the suite's own list of this host's GPUs through NVML
    (``benchmarks/support/gpus.py`` ``gpu_inventory``), asked for where not given.
    """
    host = slug((hostname or socket.gethostname()).split(".")[0]) or "host"
    if inventory is None:
        inventory = support_module("gpus").gpu_inventory()
    models = {}
    for gpu in inventory.get("gpus") or []:
        model = re.sub(r"^nvidia-", "", slug(gpu.get("name") or "gpu")) or "gpu"
        models[model] = models.get(model, 0) + 1
    if not models:
        return f"{host}-cpu"
    parts = [(f"{n}x-" if n > 1 else "") + model for model, n in models.items()]
    return "-".join([host] + parts)


def default_machine_name():
    """``<host>-<gpu model>`` on GPU hosts (``node7-h100-80gb-hbm3``), else ``<host>-cpu``.

    ``propose_machine_name`` (the suite's NVML inventory), as ``scripts/main-job`` uses;
    ``nvidia-smi`` where the suite's modules cannot be imported. NVML trouble raises
    (gpus.GpuTrouble): a GPU host never falls back to ``<host>-cpu``.
    """
    try:
        gpus = support_module("gpus")
    except ImportError:
        return smi_machine_name()
    return propose_machine_name(inventory=gpus.gpu_inventory())


#: NVIDIA model families as they appear in a machine name (``node7-h100-80gb-hbm3``).
GPU_MODEL_IN_NAME = re.compile(
    r"(?:^|-)(?:\d+x-)?(?:[abhlpkv]\d{2,3}[a-z]*|l4|t4|a2|gh200|gb200|rtx|gtx|quadro|tesla|titan)"
    r"(?:-|$)")


def name_says_gpu(machine):
    """Whether ``<host>-<rest>`` names a GPU model in ``<rest>`` (the host part may be anything)."""
    rest = machine.lower().split("-", 1)[1] if "-" in machine else ""
    return bool(GPU_MODEL_IN_NAME.search(rest)) and not rest.endswith("cpu")


def gpu_results_stored(results_dir, machine):
    """Whether a GPU combination was ever measured under ``machine`` in ``results_dir``."""
    try:
        stored = resultslib.load_machine(results_dir, machine, on_error=lambda *a: None)
    except resultslib.ResultsError:  # nothing stored under this name yet
        return False
    for commit in stored:
        for measurement in commit.measurements.values():
            if measurement.state == resultslib.OK and "'gpu'" in measurement.params:
                return True
    return False


def smi_machine_name():
    host = slug(socket.gethostname().split(".")[0]) or "host"
    gpu = gpu_model()
    return f"{host}-{re.sub(r'^nvidia-', '', slug(gpu))}" if gpu else f"{host}-cpu"


def bench_regexes(user_bench=(), quick_suite=False, gpu=None):
    """asv ``--bench`` regexes: the user's (or the quick suite), without GPU combinations on a host
    without a GPU (they would only be skipped, one process each), as ``scripts/main-job`` does.
    ``gpu=True`` (a machine meant to have one) keeps them whatever NVML says."""
    from . import mainjob

    selection = list(user_bench or ()) or (mainjob.quick_suite() if quick_suite else [])
    if gpu is None:
        try:
            gpu = mainjob.gpu_present()
        except ImportError:
            gpu = gpu_model() is not None
    return mainjob.bench_selection(selection, gpu)
