"""Instruction counts of pyhf's hot calls: the gate's lane for small regressions.

Each class's ``setup_cache`` counts all of its workloads in one child process
under valgrind's callgrind (``support/callgrind.py``): only the measured call
is counted, not the imports, the model build or the warm-up call. A count
repeats to well under 0.5 % on one machine (a time on a shared machine moves
by tens of percent), so the gate flags a 2 % growth without re-measuring.
Counts belong to a machine, like times: OpenBLAS picks its kernels by CPU.

n/a, with the reason, where valgrind or a C compiler is missing. The
workloads and their matching time_ benchmarks: ``support/instruction_workloads.py``.
"""

import re

from .common import BackendBenchmark
from .support import callgrind, pyhf_compat, settings, tracks
from .support import instruction_workloads as workloads

#: Backends shown, and why one is not counted. Measured (docs/gate-lanes.md): warm JAX calls
#: counted in two processes differed by 0.06 to 4.9 % (XLA's own threads are counted too),
#: over the 0.5 % a 2 % threshold needs; they would cry wolf, so the lane is NumPy's.
BACKENDS = ["numpy", "jax"]
NOT_COUNTED = {
    "jax": "JAX's instruction counts are not stable enough for the lane: warm calls counted in "
    "two processes differed by up to 4.9 % (interpolation 4p; logpdf 0.87 %, hypotest 0.66 %), "
    "over the 0.5 % a 2 % threshold needs (docs/gate-lanes.md)",
}
#: One valgrind child per class: the counted call runs 50 to 100 times slower than natively,
#: and on a loaded 2-core machine the child gets a quarter of a core (docs/gate-lanes.md).
CHILD_TIMEOUT = 3600
#: A regex over workload names: only the matching ones are counted (the others are n/a), so
#: that a run narrowed with --bench to one workload does not pay for its whole class.
SELECT_ENV = settings.INSTRUCTION_WORKLOADS


def selected(names):
    """(names to count, {name: skip entry} for the others) under $PYHF_BENCH_INSTRUCTION_WORKLOADS."""
    pattern = settings.instruction_workloads()
    if not pattern:
        return list(names), {}
    chosen = [name for name in names if re.search(pattern, name)]
    reason = {"skip": f"not selected for counting ({SELECT_ENV}={pattern})"}
    return chosen, {name: reason for name in names if name not in chosen}


def count_all(names):
    """setup_cache of a class: {(backend, workload): count or {skip/error/unavailable}}."""
    try:
        library = callgrind.build_library()
    except callgrind.Unavailable as err:
        return {"unavailable": str(err)}
    names, unselected = selected(names)
    cache = {}
    for backend in BACKENDS:
        if backend in NOT_COUNTED:
            continue
        cache.update({(backend, name): entry for name, entry in unselected.items()})
        try:
            pyhf_compat.require_backend(backend)
        except NotImplementedError as err:
            cache.update({(backend, name): {"skip": str(err)} for name in names})
            continue
        if not names:
            continue
        counted = callgrind.count({name: workloads.spec(backend, name) for name in names},
                                  timeout=CHILD_TIMEOUT, library=library)
        cache.update({(backend, name): value for name, value in counted.items()})
    return cache


# Each class below defines its own setup_cache: asv keys a cache by the file and line of the
# function, so one inherited setup_cache would be one cache shared by every class.
class _InstructionCounts(BackendBenchmark):
    """Reads one class's counts out of its setup_cache."""

    workloads = ()
    version = "1"
    timeout = CHILD_TIMEOUT + 60

    def setup(self, cache, backend, device, workload):
        if "unavailable" in cache:
            raise NotImplementedError(cache["unavailable"])
        if backend in NOT_COUNTED:
            raise NotImplementedError(NOT_COUNTED[backend])
        entry = cache.get((backend, workload))
        if entry is None:
            raise NotImplementedError(f"{backend} is not counted by the instruction lane")
        if isinstance(entry, dict) and "skip" in entry:
            raise NotImplementedError(entry["skip"])
        self.entry = entry

    @tracks.measurement("instructions", better="lower", threshold=0.02, deterministic=True)
    def track_instructions(self, cache, backend, device, workload):
        if isinstance(self.entry, dict):  # a crash of the workload is a failure, never n/a
            raise RuntimeError(f"counting {workload!r} failed: {self.entry.get('error')}\n"
                               f"{self.entry.get('traceback', '')}")
        return self.entry


def _params(names):
    return [BACKENDS, ["cpu"], list(names)], ["backend", "device", "workload"]


def _names(prefix):
    return [name for name in workloads.WORKLOADS if name.startswith(prefix)]


class FitInstructions(_InstructionCounts):
    """Unconditional maximum-likelihood fits (SciPy) on the pallets."""

    names = _names("fit ")
    params, param_names = _params(names)

    def setup_cache(self):
        return count_all(FitInstructions.names)

    setup_cache.timeout = CHILD_TIMEOUT


class ModelInstructions(_InstructionCounts):
    """Model build from workspace and patch, one logpdf, a batched logpdf."""

    names = _names("build_model ") + _names("logpdf ") + _names("batched_logpdf ")
    params, param_names = _params(names)

    def setup_cache(self):
        return count_all(ModelInstructions.names)

    setup_cache.timeout = CHILD_TIMEOUT


class InterpolationInstructions(_InstructionCounts):
    """Every tensorized interpolation code at the medium problem size."""

    names = _names("interpolation ")
    params, param_names = _params(names)
    # The quick suite's instruction counts: the cheapest class, one valgrind child (about
    # 16 s of CPU here).
    quick_params = {"backend": ["numpy"], "device": ["cpu"]}

    def setup_cache(self):
        return count_all(InterpolationInstructions.names)

    setup_cache.timeout = CHILD_TIMEOUT


class BaselineInstructions(_InstructionCounts):
    """pyhf's own benchmark workload: hypotest of uncorrelated_background at 1, 10, 50 bins."""

    names = _names("baseline ")
    params, param_names = _params(names)

    def setup_cache(self):
        return count_all(BaselineInstructions.names)

    setup_cache.timeout = CHILD_TIMEOUT
