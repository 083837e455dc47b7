"""Instruction counts of exactly one call, under valgrind's callgrind.

The benchmark process itself does not run under valgrind: ``count`` starts a
child ``valgrind --tool=callgrind --instr-atstart=no python -c ...`` in the
same Python environment, which prepares each workload (imports, model build,
one warm-up call) with instrumentation off and then counts only the measured
call between callgrind's client requests (``CALLGRIND_ZERO_STATS`` and
``CALLGRIND_START_INSTRUMENTATION`` before, ``CALLGRIND_STOP_INSTRUMENTATION``
and ``CALLGRIND_DUMP_STATS_AT(label)`` after). The requests live in a tiny C
library (``CLIENT_SOURCE``) compiled with the environment's C compiler on
first use and called through ctypes: no Python headers needed.

The child runs under fixed conditions (hash seed, the system allocator, one
BLAS/OpenMP/XLA thread, address randomisation off where ``setarch -R`` is
allowed), so a count repeats to well under 0.5 %. See docs/gate-lanes.md.
"""

import ctypes
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from . import settings

BENCHMARKS_PARENT = Path(__file__).resolve().parents[2]

CLIENT_SOURCE = r"""
#include <valgrind/callgrind.h>
int pyhfbench_on_valgrind(void) { return RUNNING_ON_VALGRIND; }
void pyhfbench_count_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void pyhfbench_count_stop(const char *label) {
    CALLGRIND_STOP_INSTRUMENTATION;
    CALLGRIND_DUMP_STATS_AT(label);
}
"""

#: Environment of the counted child: the same hashing, allocator and thread counts every time.
DETERMINISTIC_ENV = {
    "PYTHONHASHSEED": "0",
    "PYTHONMALLOC": "malloc",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    settings.THREADS: "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}


class Unavailable(RuntimeError):
    """Instruction counts cannot be taken here (no valgrind, no compiler, headers missing)."""


def compiler():
    """The C compiler command (a list), from sysconfig's CC, else cc or gcc; None if none."""
    configured = (sysconfig.get_config_var("CC") or "").split()
    for candidate in ([configured] if configured else []) + [["cc"], ["gcc"]]:
        if shutil.which(candidate[0]):
            return candidate
    return None


def unavailable_reason():
    """Why instruction counts cannot be taken here, or None when they can."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (apt-get install valgrind): no instruction counts"
    if compiler() is None:
        return "no C compiler (cc, gcc) to build the callgrind client-request library"
    return None


def cache_dir():
    return settings.cache_dir() / "callgrind"


def build_library(directory=None):
    """Path of the compiled client-request library (built once per source and compiler)."""
    reason = unavailable_reason()
    if reason:
        raise Unavailable(reason)
    cc = compiler()
    key = hashlib.sha256((CLIENT_SOURCE + " ".join(cc) + platform.machine()).encode()).hexdigest()
    directory = Path(directory or cache_dir())
    library = directory / f"callgrind-client-{key[:16]}.so"
    if library.is_file():
        return library
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        source = Path(scratch) / "client.c"
        source.write_text(CLIENT_SOURCE)
        built = Path(scratch) / library.name
        done = subprocess.run([*cc, "-O1", "-shared", "-fPIC", "-o", str(built), str(source)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            why = done.stderr.strip().splitlines()
            hint = " (valgrind's headers: apt-get install valgrind)" if "callgrind.h" in done.stderr else ""
            raise Unavailable(f"cannot build the callgrind client library{hint}: "
                              f"{why[-1] if why else done.returncode}")
        os.replace(built, library)  # atomic: parallel builds never see half a library
    return library


def setarch_prefix():
    """``setarch <arch> -R`` (no address randomisation) where the kernel allows it, else []."""
    command = ["setarch", platform.machine(), "-R"]
    if shutil.which("setarch") is None:
        return []
    try:
        ok = subprocess.run(command + ["true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return command if ok else []


_LABEL = re.compile(r"^desc: Trigger: Client Request: (?P<label>.*)$", re.M)
# The "totals:" line at the end: callgrind 3.19 writes "summary: 0" in the header of a
# dump that follows CALLGRIND_ZERO_STATS.
_TOTAL = re.compile(r"^totals: (?P<ir>\d+)", re.M)


def parse_dumps(directory, prefix):
    """{label: instructions} from the callgrind dump files ``prefix*`` in ``directory``."""
    counts = {}
    for path in sorted(Path(directory).glob(prefix + "*")):
        text = path.read_text(errors="replace")
        label, total = _LABEL.search(text), _TOTAL.search(text)
        if label and total:
            counts[label["label"].strip()] = int(total["ir"])
    return counts


def count(workloads, module="benchmarks.support.instruction_workloads", python=None,
          timeout=1800, library=None, env=None, inherit=True):
    """Count the instructions of each workload's measured call in one valgrind child.

    ``workloads``: {label: [function name in ``module``, *arguments]}; the function
    returns the zero-argument callable to count (everything before it is not counted).
    ``env``: extra environment of the child, e.g. ``PYTHONPATH`` with another pyhf first
    (the bisection's); the fixed conditions of ``DETERMINISTIC_ENV`` still apply.
    ``inherit``: whether the child starts from this process's environment (the host's
    callers pass False and an allow-listed ``env``: scripts/pyhfbench/childenv.py).
    Returns {label: int instructions, or an error/skip description (dict)}.
    Raises Unavailable when counts cannot be taken here at all.
    """
    library = library or build_library()
    with tempfile.TemporaryDirectory(prefix="pyhfbench-callgrind-") as scratch:
        outcome = Path(scratch) / "outcome.json"
        spec = {"library": str(library), "module": module, "workloads": workloads,
                "outcome": str(outcome)}
        code = (f"import sys; sys.path.insert(0, {str(BENCHMARKS_PARENT)!r}); "
                "from benchmarks.support import callgrind; "
                f"callgrind.child({json.dumps(spec)!r})")
        command = setarch_prefix() + [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", "--quiet",
            f"--callgrind-out-file={scratch}/callgrind.out", python or sys.executable, "-c", code]
        child_env = {**(os.environ if inherit else {}), **(env or {}), **DETERMINISTIC_ENV}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  env=child_env)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the callgrind child took more than {timeout} s") from None
        counts = parse_dumps(scratch, "callgrind.out")
        results = json.loads(outcome.read_text()) if outcome.is_file() else {}
        if done.returncode != 0 and not results:
            raise RuntimeError(f"the callgrind child failed ({done.returncode}): "
                               f"{done.stderr.strip()[-2000:]}")
    for label in workloads:
        state = results.get(label, {"error": "the child did not reach this workload"})
        if state.get("counted"):
            if label not in counts:
                state = {"error": "callgrind wrote no dump for this workload"}
            else:
                state = counts[label]
        results[label] = state
    return {label: results[label] for label in workloads}


def child(spec_json):
    """In the valgrind child: prepare, warm up and count each workload; write the outcome."""
    import gc
    import importlib
    import traceback

    spec = json.loads(spec_json)
    client = ctypes.CDLL(spec["library"])
    client.pyhfbench_count_stop.argtypes = [ctypes.c_char_p]
    outcome = {}

    def save():
        Path(spec["outcome"]).write_text(json.dumps(outcome))

    if not client.pyhfbench_on_valgrind():
        outcome = {label: {"error": "the child is not running under valgrind"}
                   for label in spec["workloads"]}
        return save()
    module = importlib.import_module(spec["module"])
    for label, (name, *arguments) in spec["workloads"].items():
        try:
            call = getattr(module, name)(*arguments)
            call()  # warm: caches, lazy imports, JAX compilation
            # A garbage collection inside the call or not depends on what ran before: none.
            gc.collect()
            gc.disable()
            try:
                client.pyhfbench_count_start()
                call()
                client.pyhfbench_count_stop(label.encode())
            finally:
                gc.enable()
            outcome[label] = {"counted": True}
        except NotImplementedError as err:
            outcome[label] = {"skip": str(err)}
        except Exception as err:  # one broken workload must not lose the others' counts
            outcome[label] = {"error": f"{type(err).__name__}: {err}",
                              "traceback": traceback.format_exc()[-4000:]}
        save()
    save()
