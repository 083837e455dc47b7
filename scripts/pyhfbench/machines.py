"""The machine a night runs on: its name (the GPU model in it) and whether it has a GPU."""

import re
import socket
import subprocess

from . import results as resultslib


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
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def default_machine_name():
    """``<host>-<gpu model>`` on GPU hosts (``node7-h100-80gb-hbm3``), else ``<host>-cpu``.

    The suite's own naming (``benchmarks/support/monitor.py``, through NVML), as
    ``scripts/main-job`` uses; ``nvidia-smi`` where that cannot be imported. NVML
    trouble raises (monitor.GpuTrouble): a GPU host never falls back to ``<host>-cpu``.
    """
    try:
        from . import mainjob

        support = mainjob.support_module("monitor")
    except ImportError:
        return smi_machine_name()
    return support.propose_machine_name()


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
