"""Run a function of this package in a new Python process, and get back what it returned.

Every workload measured this way gets a process of its own: its own peak RSS, its own
CUDA context, and a hang kills the child, not the benchmark.

Nothing here is a benchmark: no name starts with an asv benchmark prefix.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _package_root():
    """The folder that holds this package (the parent of benchmarks/), and the package's name."""
    parts = __name__.split(".")
    return Path(__file__).resolve().parents[len(parts) - 1], parts[0]


def run_in_child(target, kwargs, timeout=600.0):
    """Run ``target(**kwargs)`` ('module:function', relative to this package) in a new Python.

    Returns what it returned (JSON), or {"status": "error", "reason": ...}
    where the child failed, crashed or ran past ``timeout``. Every workload
    measured this way gets a process of its own: its own peak RSS, its own
    CUDA context, and a hang kills the child, not the benchmark.
    """
    root, package = _package_root()
    module, function = target.split(":")
    fd, out_path = tempfile.mkstemp(prefix="pyhf-bench-child-", suffix=".out")
    os.close(fd)
    code = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        f"module = importlib.import_module({package + '.' + module!r})\n"
        "kwargs = json.loads(sys.stdin.read())\n"
        f"result = getattr(module, {function!r})(**kwargs)\n"
        f"open({out_path!r}, 'w').write(json.dumps(result, default=str))\n"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(kwargs),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        _unlink(out_path)
        tail = (err.stderr or b"")[-2000:]
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return {"status": "error", "reason": f"{target} ran past {timeout:g} s and was killed",
                "stderr": tail}
    try:
        text = Path(out_path).read_text()
        result = json.loads(text) if text else None
    except (OSError, ValueError):
        result = None
    finally:
        _unlink(out_path)
    if proc.stderr:
        sys.stderr.write(proc.stderr[-4000:])
    if proc.returncode != 0 or result is None:
        last = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"status": "error",
                "reason": f"{target} exited with status {proc.returncode}: {last[0]}",
                "stderr": (proc.stderr or "")[-4000:]}
    return result


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass

