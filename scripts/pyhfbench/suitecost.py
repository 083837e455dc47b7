"""Where one commit's run spends its time (docs/suite-cost.md).

``results FILE``: from an asv result file (``asv run --record-samples``), per
benchmark module: asv's recorded wall time (``durations``: every process,
setup, pilot and sample, setup_cache included), the time inside timed calls
(samples x number), the rest (interpreter or fork, setup, warm-up, pilot),
and the combinations measured, skipped (n/a) and failed; with the build and
install of pyhf where asv recorded it. Then the costliest benchmarks (asv's
duration of each, setup_caches included), and the spread of the time_
combinations: how many have an interquartile range over median of at most
5 % (issue 19's goal: 90 %), and the widest.

``imports --python ENV_PYTHON``: what a fresh interpreter of an asv
environment pays before a benchmark starts (``spawn``): wall and CPU seconds
of starting Python and importing each framework, each in its own process.
"""

import argparse
import re
import resource
import subprocess
import sys
import time
from collections import defaultdict

from . import results as resultslib
from .support import support_module

#: What each import costs: Python, what every benchmark imports, then each backend's modules
#: (benchmarks/support/pyhf_compat.py, numpy's with scipy), labelled by the first of them.
IMPORTS = {
    "python": "pass",
    "numpy+scipy": "import numpy, scipy.optimize",
    "pyhf": "import pyhf, pyhf.infer",
    **{backend.modules[0]: "import " + ", ".join(backend.modules)
       for name, backend in support_module("pyhf_compat").BACKEND_TABLE.items() if name != "numpy"},
}


def _module(name):
    return name.split(".", 1)[0]


_SETUP_CACHE = re.compile(r"^<setup_cache (?P<module>[^:>]+)")


def breakdown(results):
    """{module: {wall_s, cache_s, timed_s, measured, skipped, failed}} and {other key: seconds}
    of one commit's ``results.CommitResults``.

    ``wall_s``: asv's ``duration`` of each benchmark (its processes: fork or interpreter,
    setup, pilot, samples); ``cache_s``: the module's setup_cache runs."""
    modules = defaultdict(lambda: {"wall_s": 0.0, "cache_s": 0.0, "timed_s": 0.0, "measured": 0,
                                   "skipped": 0, "failed": 0})
    for measurement in results.measurements.values():
        module = modules[_module(measurement.benchmark)]
        state = measurement.state
        key = {resultslib.OK: "measured", resultslib.SKIPPED: "skipped"}.get(state, "failed")
        module[key] += 1
        if state == resultslib.OK and measurement.samples:
            number = (measurement.stats or {}).get("number") or 1
            module["timed_s"] += sum(measurement.samples) * number
    other = {}
    for key, seconds in results.durations.items():
        cache = _SETUP_CACHE.match(key)
        if cache:
            modules[cache["module"]]["cache_s"] += seconds
        elif key in results.params:
            modules[_module(key)]["wall_s"] += seconds or 0.0
        else:
            other[key] = seconds
    return dict(modules), other


def spreads(results):
    """[(interquartile range / median, label)] of the measured time_ combinations, widest first."""
    found = []
    for measurement in results.measurements.values():
        if (measurement.kind != "time" or measurement.state != resultslib.OK
                or not measurement.value):
            continue
        quartiles = measurement.quantiles()
        if quartiles is not None:
            found.append(((quartiles[1] - quartiles[0]) / measurement.value, measurement.label))
    return sorted(found, reverse=True)


def print_breakdown(path, top=12, target=0.05):
    results = resultslib.load_file(path)
    modules, other = breakdown(results)
    head = ("module", "wall s", "cache s", "timed s", "rest s", "measured", "n/a", "failed")
    print(f"{head[0]:22} " + " ".join(f"{h:>8}" for h in head[1:]))
    total = defaultdict(float)
    for m in modules.values():
        for key, value in m.items():
            total[key] += value
    costliest = sorted(modules.items(), key=lambda item: -(item[1]["wall_s"] + item[1]["cache_s"]))
    for name, m in [*costliest, ("all", total)]:
        rest = m["wall_s"] - m["timed_s"]
        print(f"{name:22} {m['wall_s']:8.0f} {m['cache_s']:8.0f} {m['timed_s']:8.0f} {rest:8.0f} "
              f"{int(m['measured']):8d} {int(m['skipped']):8d} {int(m['failed']):8d}")
    for key, seconds in sorted(other.items()):
        print(f"{key}: {seconds:.0f} s")
    costliest = sorted(results.durations.items(), key=lambda item: -(item[1] or 0))[:top]
    print(f"\ncostliest {len(costliest)}:")
    for key, seconds in costliest:
        print(f"{seconds or 0:8.0f} s  {key}")
    found = spreads(results)
    within = sum(spread <= target for spread, _ in found)
    share = f" ({100 * within / len(found):.0f} %)" if found else ""
    print(f"\ntime_ spread <= {100 * target:g} %: {within} of {len(found)}{share}; widest:")
    for spread, label in found[:top]:
        print(f"{100 * spread:8.1f} %  {label}")


def time_import(python, statement):
    """(wall s, CPU s) of ``python -c statement`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([python, "-c", statement], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def print_imports(python, repeats):
    print(f"{'import':14} {'wall s':>8} {'CPU s':>8}  (best of {repeats})")
    for label, statement in IMPORTS.items():
        try:
            runs = [time_import(python, statement) for _ in range(repeats)]
        except subprocess.CalledProcessError:
            print(f"{label:14} not importable")
            continue
        print(f"{label:14} {min(r[0] for r in runs):8.2f} {min(r[1] for r in runs):8.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pyhfbench.suitecost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    results = sub.add_parser("results", help="breakdown of an asv result file")
    results.add_argument("file")
    results.add_argument("--top", type=int, default=12, help="costliest and widest to list")
    imports = sub.add_parser("imports", help="interpreter start and framework imports")
    imports.add_argument("--python", default=sys.executable, help="an asv environment's python")
    imports.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "results":
        print_breakdown(args.file, top=args.top)
    else:
        print_imports(args.python, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
