"""One side of a paired time measurement: a benchmark method, sampled on request.

Started by ``scripts/pyhfbench/paired.py`` in a commit's asv environment
(pyhf of that commit first on ``sys.path``); it imports the benchmark class,
runs ``setup_cache`` and ``setup`` once, then answers each ``sample`` line
on stdin with one JSON line: the CPU time (``time.process_time``) and the
wall time of one call of the method, and how much CPU time other threads
spent in it. The host alternates two such workers, so only one measures at
a time.

``profile cpu`` (or ``profile wall``) answers with a cProfile of one call on
that clock: one row per function (file, line, name, the qualified name where
the source says it, calls, own and inclusive time, and its callers), and
where this pyhf is (``pyhf_root``), for ``scripts/pyhfbench/explain.py``.
Instead of a benchmark method the spec may name an instruction workload
(``workload``: ``instruction_workloads.spec``), the call the instruction lane counts.
"""

import ast
import cProfile
import importlib
import json
import os
import pstats
import sys
import time
import traceback


def reply(**message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def prepare(module_name, class_name, method_name, params):
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    instance = cls()
    method = getattr(instance, method_name)  # first, as asv's discovery does (common.timed_with)
    arguments = list(params)
    if getattr(cls, "tracks_from_setup_cache", False):
        arguments = [None] + arguments  # the tracks' results: a time_ method needs none
    elif hasattr(cls, "setup_cache"):
        arguments = [instance.setup_cache()] + arguments
    if hasattr(instance, "setup"):
        instance.setup(*arguments)
    if method_name.startswith("time_") and hasattr(instance, "warm_once"):
        instance.warm_once()  # as in asv's process, where reading number warms up first
    return lambda: method(*arguments)


def prepare_workload(name, *arguments):
    from benchmarks.support import instruction_workloads

    return getattr(instruction_workloads, name)(*arguments)


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def qualified_names(filename):
    """{first line: qualified name} of the functions defined in a source file ({} if unreadable)."""
    try:
        tree = ast.parse(open(filename).read())
    except (OSError, SyntaxError, ValueError):
        return {}
    names = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    for line in [child.lineno] + [d.lineno for d in child.decorator_list]:
                        names[line] = name
                visit(child, name + (".<locals>." if not isinstance(child, ast.ClassDef) else "."))
            else:
                visit(child, prefix)
    visit(tree, "")
    return names


def profile(call, clock):
    """One call under cProfile on ``clock``: the rows ``explain.py`` reads."""
    profiler = cProfile.Profile(CLOCKS[clock])
    profiler.enable()
    call()
    profiler.disable()
    raw = pstats.Stats(profiler).stats
    index = {func: i for i, func in enumerate(raw)}
    import pyhf

    root = os.path.dirname(os.path.abspath(pyhf.__file__))
    sources = {}
    rows = []
    for func, (cc, nc, tt, ct, callers) in raw.items():
        filename, line, name = func
        qualname = name
        if filename.startswith(root):
            qualname = sources.setdefault(filename, qualified_names(filename)).get(line, name)
        rows.append([filename, line, name, qualname, nc, tt, ct,
                     [[index[c], e[3]] for c, e in callers.items() if c in index]])
    return {"clock": clock, "pyhf_root": root, "rows": rows}


def sample(call):
    wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    call()
    own = time.thread_time() - own
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    return {"cpu": cpu, "wall": wall, "other_threads": max(cpu - own, 0.0) / cpu if cpu else 0.0}


def main(spec_json):
    spec = json.loads(spec_json)
    for path in reversed(spec.get("sys_path", [])):
        sys.path.insert(0, path)
    # Keep the protocol channel clean: benchmarks may print.
    protocol, sys.stdout = sys.stdout, sys.stderr
    global reply

    def reply(**message):  # noqa: F811 (bound to the saved stdout)
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        call = (prepare_workload(*spec["workload"]) if spec.get("workload") else
                prepare(spec["module"], spec["class"], spec["method"], spec["params"]))
    except NotImplementedError as err:
        return reply(state="skip", reason=str(err))
    except Exception as err:
        return reply(state="error", reason=f"{type(err).__name__}: {err}",
                     traceback=traceback.format_exc()[-4000:])
    reply(state="ready")
    for line in sys.stdin:
        request = line.split()
        if request[:1] not in (["sample"], ["profile"]):
            break
        try:
            if request[0] == "sample":
                reply(state="sample", **sample(call))
            else:
                reply(state="profile", **profile(call, request[1] if len(request) > 1 else "cpu"))
        except Exception as err:
            return reply(state="error", reason=f"{type(err).__name__}: {err}",
                         traceback=traceback.format_exc()[-4000:])
