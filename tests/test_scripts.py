"""Every script in scripts/ runs from a new shell: no ``. .venv/bin/activate``, only the
system's PATH. The Python front ends re-execute themselves with .venv's Python; without
a .venv they exit at once with one line saying what to run."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pyhfbench import hostenv

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (REPO_ROOT / "scripts").iterdir() if p.is_file())
#: Run on an offline GPU node with the host's own Python (its CUDA builds), never .venv.
HOST_PYTHON_SCRIPTS = {"offline-bench", "gpu-acceptance"}
PYTHON_SCRIPTS = [p for p in SCRIPTS if "python" in p.read_text().splitlines()[0]
                  and p.name not in HOST_PYTHON_SCRIPTS]


def new_shell_env():
    """What a new login shell has: no virtual environment, no PYTHONPATH."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8"}


def clone_without_venv(tmp_path):
    """A checkout's scripts/ and benchmarks/ (the suite's settings), without a .venv."""
    clone = tmp_path / "clone"
    for folder in ("scripts", "benchmarks"):
        shutil.copytree(REPO_ROOT / folder, clone / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return clone


def test_every_script_is_covered():
    assert len(SCRIPTS) >= 14 and all(os.access(p, os.X_OK) for p in SCRIPTS)
    assert {p.name for p in PYTHON_SCRIPTS} >= {"pallets", "nightly", "report", "scan", "publish"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help_runs_from_a_new_shell(script):
    result = subprocess.run([str(script), "--help"], cwd="/", env=new_shell_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), f"{script.name} --help printed nothing"
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("script", PYTHON_SCRIPTS, ids=lambda p: p.name)
def test_without_the_environment_a_script_says_what_to_run(script, tmp_path):
    clone = clone_without_venv(tmp_path)
    shutil.copy2(REPO_ROOT / "requirements.txt", clone)
    result = subprocess.run([str(clone / "scripts" / script.name), "--help"], cwd=tmp_path,
                            env=new_shell_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"scripts/{script.name}: ") and "run scripts/bootstrap first" in line


@pytest.mark.parametrize("name", sorted(HOST_PYTHON_SCRIPTS))
def test_the_node_scripts_run_with_the_python_that_starts_them(name, tmp_path):
    clone = clone_without_venv(tmp_path)
    result = subprocess.run([str(clone / "scripts" / name), "--help"], cwd=tmp_path,
                            env=new_shell_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_a_stale_environment_is_named(tmp_path):
    venv, requirements = tmp_path / ".venv", tmp_path / "requirements.txt"
    requirements.write_text("asv==0.6.6\n")
    assert "is not set up" in hostenv.environment_problem(venv, requirements)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    (venv / ".requirements.sha256").write_text("0" * 64 + "\n")
    assert "requirements.txt changed" in hostenv.environment_problem(venv, requirements)
    (venv / ".requirements.sha256").write_text(hashlib.sha256(b"asv==0.6.6\n").hexdigest() + "\n")
    assert hostenv.environment_problem(venv, requirements) is None
