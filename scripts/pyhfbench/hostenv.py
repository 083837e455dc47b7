"""Run a command-line front end of ``scripts/`` in the project's environment, ``.venv``.

Each front end calls ``use_project_python(__file__)`` before importing anything
beyond the standard library: started by any other Python (a new shell, no
``. .venv/bin/activate``), it re-executes itself with ``.venv/bin/python``;
where ``.venv`` is missing or older than ``requirements.txt`` it exits at once
with one line saying what to run. Standard library only (and the suite's ``settings``).
"""

import hashlib
import os
import sys
from pathlib import Path

from .support import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = REPO_ROOT / ".venv"
#: Set on the re-executed process, so that a broken .venv cannot loop.
REEXEC_MARK = settings.REEXEC


def environment_problem(venv=VENV, requirements=REPO_ROOT / "requirements.txt"):
    """Why ``venv`` cannot run the scripts (one line), or None."""
    stamp = venv / ".requirements.sha256"
    if not (venv / "bin" / "python").exists() or not stamp.is_file():
        return f"{venv} is not set up: run scripts/bootstrap first (once; it installs requirements.txt)"
    if stamp.read_text().strip() != hashlib.sha256(requirements.read_bytes()).hexdigest():
        return f"requirements.txt changed since {venv} was set up: run scripts/bootstrap first"
    return None


def in_venv(venv=VENV):
    return Path(sys.prefix).resolve() == venv.resolve()


def use_project_python(script, venv=VENV):
    """Return if this is ``venv``'s Python; else re-execute ``script`` with it, or exit 2."""
    if in_venv(venv):
        return
    name = f"scripts/{Path(script).name}"
    problem = environment_problem(venv)
    if problem is None and settings.reexecuted():
        problem = f"{venv / 'bin' / 'python'} does not run as {venv}: rebuild it with scripts/bootstrap"
    if problem:
        print(f"{name}: {problem}", file=sys.stderr)
        sys.exit(2)
    python = str(venv / "bin" / "python")
    os.environ[REEXEC_MARK] = "1"
    os.execv(python, [python, str(Path(script).resolve()), *sys.argv[1:]])



def run_main(main, broken=2):
    """``main()``'s exit status, where output cut off by a closed pipe (``| head``) never turns
    into exit status 1, which the gate reads as findings: a BrokenPipeError out of ``main``
    (a traceback or a message that could not be written) is a broken run (``broken``); a
    status ``main`` returned stands, even when its last output could not be flushed."""
    try:
        code = main()
    except BrokenPipeError:
        code = broken
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            # Nobody reads any more: Python would fail again at exit (status 120).
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError):
                pass
    return code
