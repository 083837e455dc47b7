"""One side of a paired time measurement: a benchmark method, sampled on request.

Started by ``scripts/pyhfbench/paired.py`` in a commit's asv environment
(pyhf of that commit first on ``sys.path``); it imports the benchmark class,
runs ``setup_cache`` and ``setup`` once, then answers each ``sample`` line
on stdin with one JSON line: the CPU time (``time.process_time``) and the
wall time of one call of the method, and how much CPU time other threads
spent in it. The host alternates two such workers, so only one measures at
a time.
"""

import importlib
import json
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
    arguments = list(params)
    if hasattr(cls, "setup_cache"):
        arguments = [instance.setup_cache()] + arguments
    if hasattr(instance, "setup"):
        instance.setup(*arguments)
    method = getattr(instance, method_name)
    return lambda: method(*arguments)


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
        call = prepare(spec["module"], spec["class"], spec["method"], spec["params"])
    except NotImplementedError as err:
        return reply(state="skip", reason=str(err))
    except Exception as err:
        return reply(state="error", reason=f"{type(err).__name__}: {err}",
                     traceback=traceback.format_exc()[-4000:])
    reply(state="ready")
    for line in sys.stdin:
        if line.strip() != "sample":
            break
        try:
            reply(state="sample", **sample(call))
        except Exception as err:
            return reply(state="error", reason=f"{type(err).__name__}: {err}",
                         traceback=traceback.format_exc()[-4000:])
