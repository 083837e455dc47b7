"""What the project asks of its GitHub workflows, read from their YAML (tests/test_workflows.py).

- A job that builds or runs benchmarked code (pyhf's commits, a pull request's code) sees
  no secret, holds no write permission and keeps no credential in its checkout: the code
  it runs is not trusted with them. What it makes goes on to other jobs as artifacts.
- Every action is pinned by commit SHA, its tag in a comment (Dependabot keeps both).
- An artifact's paths are inside the workspace (upload-artifact refuses ``..``), hidden
  folders are asked for where they are meant, and a missing artifact is not ignored.
"""

import re
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"

#: A ``run:`` that builds or runs benchmarked code: the scripts that drive asv, the tests
#: (they build pyhf's commits), asv itself.
BENCHMARK_COMMAND = re.compile(
    r"\bscripts/(nightly|main-job|test|gate|offline-bench|gpu-acceptance|profile|scan|"
    r"sensitivity|root-compare|monitor)\b|\basv\s+(run|continuous|dev|profile)\b|\bpytest\b")
#: An expression that hands out a secret or the workflow's token.
SECRET = re.compile(r"\$\{\{[^}]*\b(secrets\s*\.|secrets\s*\[|github\s*\.\s*token)")
#: ``uses: owner/repo[/path]@<40 hex> # vX[.Y.Z]``
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<ref>\S+)(?:\s*#\s*(?P<tag>\S+))?")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
TAG = re.compile(r"^v\d+(\.\d+)*$")
READ_ONLY = ("read", "none")


def workflow_files(folder=WORKFLOWS):
    return sorted(p for p in Path(folder).iterdir() if p.suffix in (".yml", ".yaml"))


def load(text):
    return yaml.safe_load(text) or {}


def steps_of(job):
    return job.get("steps") or []


def runs_benchmarks(job):
    """Whether a job builds or runs benchmarked code (one of its ``run:`` steps does)."""
    return any(BENCHMARK_COMMAND.search(str(step.get("run", ""))) for step in steps_of(job))


def write_permissions(permissions):
    """What in a ``permissions:`` value can write (None: not set, so the repository's default,
    which may be write-all)."""
    if permissions is None:
        return ["no permissions set (the repository's default token, which may write)"]
    if isinstance(permissions, str):
        return [] if permissions == "read-all" else [permissions]
    return [f"{scope}: {level}" for scope, level in permissions.items() if level not in READ_ONLY]


def exposures(workflow):
    """["job: problem"] for every job that runs benchmarked code and could hand the code a
    credential: write permission, a secret anywhere in the job or the workflow's env, a
    checkout that keeps its token in .git/config."""
    problems = []
    shared_env = yaml.safe_dump(workflow.get("env") or {})
    for name, job in (workflow.get("jobs") or {}).items():
        if not runs_benchmarks(job):
            continue
        permissions = job.get("permissions", workflow.get("permissions"))
        problems += [f"{name}: can write ({what})" for what in write_permissions(permissions)]
        if SECRET.search(yaml.safe_dump(job)) or SECRET.search(shared_env):
            problems.append(f"{name}: a secret or the workflow's token is in the job")
        for step in steps_of(job):
            if str(step.get("uses", "")).startswith("actions/checkout@") and \
                    str((step.get("with") or {}).get("persist-credentials", "")).lower() != "false":
                problems.append(f"{name}: a checkout keeps its credential (persist-credentials)")
    return problems


def benchmark_jobs(workflow):
    return sorted(name for name, job in (workflow.get("jobs") or {}).items() if runs_benchmarks(job))


def unpinned(text):
    """Every ``uses:`` line of a workflow's text not pinned by commit SHA with its tag."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES.match(line)
        if not match or match["ref"].startswith(("./", "docker://")):
            continue
        if not PINNED.match(match["ref"]) or not TAG.match(match["tag"] or ""):
            found.append(f"line {number}: {line.strip()}")
    return found


def expand(path, env):
    """``path`` with ``${{ env.NAME }}`` replaced by the value ``env`` gives it (once) and
    ``${{ github.workspace }}`` by ``.``: where the upload looks, as far as the YAML says."""
    path = re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: str(env.get(m[1], m[0])), path)
    return re.sub(r"\$\{\{\s*github\.workspace\s*\}\}", ".", path)


def artifact_problems(workflow):
    """["job: problem"] for upload-artifact steps whose paths leave the workspace, reach into
    a hidden folder without include-hidden-files, or whose absence is ignored."""
    problems = []
    for name, job in (workflow.get("jobs") or {}).items():
        for step in steps_of(job):
            if not str(step.get("uses", "")).startswith("actions/upload-artifact@"):
                continue
            given = step.get("with") or {}
            env = {**(workflow.get("env") or {}), **(job.get("env") or {}), **(step.get("env") or {})}
            paths = [expand(p.strip(), env) for p in str(given.get("path", "")).splitlines()
                     if p.strip()]
            hidden_ok = str(given.get("include-hidden-files", "")).lower() == "true"
            for path in paths:
                parts = re.split(r"[\\/]", path)
                if ".." in parts or path.startswith(("/", "~")) or "runner." in path:
                    problems.append(f"{name}: {path} is not inside the workspace")
                if not hidden_ok and any(p.startswith(".") and p not in (".", "..")
                                         for p in parts):
                    problems.append(f"{name}: {path} is hidden, and include-hidden-files is not true")
            if given.get("if-no-files-found", "warn") == "ignore":
                problems.append(f"{name}: if-no-files-found: ignore hides an artifact that is missing")
    return problems
