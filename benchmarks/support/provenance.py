"""The stack a benchmark process runs in, recorded beside the results it produces.

asv's result file keeps the matrix spec ("" for any release) and its environment's
name stays the same when the environment is rebuilt with newer releases, so the
first ``setup`` of every benchmark process (``skips.recording``) writes what this
environment really holds: the Python and the version of every installed
distribution, read here, inside the environment. The file is
``<results>/<machine>/stacks/<commit hash8>-<asv env name>.jsonl`` (one JSON line: asv
reads every ``.json`` under the results folder as a result file), beside asv's
``<commit hash8>-<env name>.json``; the host reads it through its results layer.
A plain ``asv run`` (no results folder passed) records nothing.
"""

import functools
import json
import os
import platform
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from . import settings

FOLDER = "stacks"


def record_name(commit, env_name):
    """The record's file name: one per commit and asv environment, as asv's result files."""
    return f"{commit[:8]}-{env_name}.jsonl"


@functools.lru_cache(maxsize=1)
def current_stack():
    """{"python": "3.13.0", "implementation": ..., "packages": {name: version}} of this process."""
    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name.lower().replace("_", "-")] = dist.version
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "packages": dict(sorted(packages.items())),
    }


def record_path(environ=os.environ):
    """Where this process's stack goes, or None (a plain asv run passes no results folder)."""
    base, machine = settings.results_dir(environ), settings.machine(environ)
    commit, env_name = environ.get("ASV_COMMIT"), environ.get("ASV_ENV_NAME")
    if base is None or not machine or not commit or not env_name:
        return None
    return Path(base) / machine / FOLDER / record_name(commit, env_name)


_recorded = set()


def _up_to_date(path):
    """Whether ``path`` was written after the environment last changed: reading every
    distribution's version costs some 0.1 s, once in each of the suite's ~500 processes,
    where a stat costs nothing (pip changes site-packages' mtime when it installs)."""
    try:
        written = path.stat().st_mtime
        changed = max(os.stat(sysconfig.get_paths()[key]).st_mtime for key in ("purelib", "platlib"))
    except OSError:
        return False
    return written >= changed


def record_once(environ=os.environ):
    """Write this environment's stack for this commit, once per process; never raises (a
    benchmark is not failed for its bookkeeping: the host reports a missing record)."""
    path = record_path(environ)
    if path is None or path in _recorded:
        return None
    _recorded.add(path)
    if _up_to_date(path):
        return path
    stack = dict(current_stack(), commit=environ.get("ASV_COMMIT"),
                 env_name=environ.get("ASV_ENV_NAME"))
    text = json.dumps(stack, sort_keys=True) + "\n"
    try:
        if path.is_file() and path.read_text() == text:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)  # readers see the old or the new record, never half of one
    except OSError as err:
        print(f"pyhf-benchmarks: the stack was not recorded in {path}: {err}", file=sys.stderr)
        return None
    return path
