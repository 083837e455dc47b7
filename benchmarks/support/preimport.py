"""Heavy imports done once per environment and commit, in asv's forkserver.

With ``launch_method`` ``forkserver`` (hosts without a GPU: scripts/asvconf
chooses), asv starts one server per environment and commit, which imports
the benchmark suite and then forks a child per benchmark combination and
round. Importing pyhf and the frameworks its backends use here, before any
fork, saves each child those seconds. Nothing is initialised: no device,
no backend set, no thread pool started (jax warns, and may deadlock, when
a process forks after its backends started). Under ``spawn`` (GPU hosts:
CUDA cannot be initialised in a forked process) nothing is imported here.
"""

import importlib
import importlib.util
import sys

from .pyhf_compat import BACKEND_TABLE

#: asv_runner's command for the forkserver process (asv/benchmark.py run_server ...).
SERVER_COMMAND = "run_server"
#: What every benchmark imports, then each backend's module of this pyhf, if it has one.
COMMON_MODULES = ("numpy", "scipy.optimize", "threadpoolctl", "pyhf", "pyhf.infer", "iminuit")
#: The modules of each backend not imported above already (numpy's are), from the one table.
BACKEND_MODULES = {name: backend.modules for name, backend in BACKEND_TABLE.items()
                   if not set(backend.modules) <= set(COMMON_MODULES)}


def in_forkserver_process(argv=None):
    argv = sys.argv if argv is None else argv
    return len(argv) > 1 and argv[1] == SERVER_COMMAND


def modules_to_preimport():
    """Module names to import: the common ones, and the libraries of each backend this pyhf
    ships and this environment has."""
    names = [name for name in COMMON_MODULES if _findable(name)]
    for backend, modules in BACKEND_MODULES.items():
        if _findable(f"pyhf.tensor.{backend}_backend") and all(_findable(m) for m in modules):
            names += list(modules) + [f"pyhf.tensor.{backend}_backend"]
    return names


def _findable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def in_forkserver(argv=None):
    """Import ``modules_to_preimport()`` when this is asv's forkserver; returns what was imported.

    A module that fails to import is left to the benchmarks, which then fail or skip with
    the reason, as under ``spawn``.
    """
    if not in_forkserver_process(argv):
        return []
    imported = []
    for name in modules_to_preimport():
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the benchmark's own import reports it
            continue
        imported.append(name)
    return imported
