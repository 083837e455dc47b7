"""The workflows in .github/: actionlint and zizmor find nothing, the jobs that run benchmarked
code see no secret and cannot write, every action is pinned by SHA with its tag, and the
artifacts upload (scripts/pyhfbench/workflow_audit.py says what each check asks)."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from pyhfbench import workflow_audit as audit

REPO_ROOT = audit.REPO_ROOT
WORKFLOWS = {path.name: path.read_text() for path in audit.workflow_files()}

#: The old nightly.yml's job and pr.yml's upload, as issue 28 found them: what the checks
#: must catch.
OLD_NIGHTLY = """
permissions:
  contents: write
  issues: write
jobs:
  nightly:
    runs-on: [self-hosted, linux, gpu]
    env:
      NIGHTLY_HOME: ${{ github.workspace }}/../pyhf-nightly
    steps:
      - uses: actions/checkout@v4
      - name: Benchmark
        env:
          PAGES_URL: https://x-access-token:${{ secrets.GITHUB_TOKEN }}@github.com/o/r.git
        run: scripts/nightly --push-html "$PAGES_URL"
      - uses: actions/upload-artifact@v4
        with:
          path: |
            reports/
            ${{ env.NIGHTLY_HOME }}/work/logs/
          if-no-files-found: ignore
  tests:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0
        with:
          persist-credentials: false
      - run: scripts/test
      - uses: actions/upload-artifact@v4
        with:
          path: .asv/pr/html/
"""


def tool(name):
    """A linter from requirements-dev.txt: in the venv running the tests, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: scripts/bootstrap --dev installs it"
    return found


def test_actionlint_finds_nothing():
    # Its configuration (the GPU runner's label) is .github/actionlint.yaml; shellcheck, from
    # requirements-dev.txt too, checks the run: scripts.
    done = subprocess.run([tool("actionlint"), "-shellcheck", tool("shellcheck"),
                           *sorted(str(p) for p in audit.workflow_files())],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_of_medium_severity_or_above():
    # --offline: the audits that ask GitHub (impostor commits, known-vulnerable actions) need
    # a network this CI has not got; the pins' tags are checked below instead.
    done = subprocess.run([tool("zizmor"), "--offline", "--min-severity", "medium", "--no-progress",
                           ".github/"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_jobs_that_run_benchmarks_see_no_secret_and_cannot_write():
    jobs = {name: audit.benchmark_jobs(audit.load(text)) for name, text in WORKFLOWS.items()}
    assert jobs == {"nightly.yml": ["benchmark"], "pr.yml": ["tests"]}
    for name, text in WORKFLOWS.items():
        assert audit.exposures(audit.load(text)) == [], name


def test_the_jobs_that_write_run_no_benchmarked_code_and_hold_one_permission_each():
    nightly = audit.load(WORKFLOWS["nightly.yml"])
    assert nightly["permissions"] == {}
    held = {name: job["permissions"] for name, job in nightly["jobs"].items()}
    assert held == {"benchmark": {"contents": "read"}, "results": {"contents": "write"},
                    "pages": {"pages": "write", "id-token": "write"},
                    "issue": {"issues": "write"}}
    for name in ("results", "pages", "issue"):
        job = nightly["jobs"][name]
        assert job["needs"] == "benchmark" and job["runs-on"] == "ubuntu-latest"
        assert not audit.runs_benchmarks(job)


def test_the_checks_catch_what_issue_28_found():
    old = audit.load(OLD_NIGHTLY)
    assert audit.benchmark_jobs(old) == ["nightly", "tests"]
    assert audit.exposures(old) == [
        "nightly: can write (contents: write)", "nightly: can write (issues: write)",
        "nightly: a secret or the workflow's token is in the job",
        "nightly: a checkout keeps its credential (persist-credentials)",
        "tests: can write (contents: write)", "tests: can write (issues: write)",
    ]
    del old["permissions"]  # as pr.yml had it: the repository's default token
    assert audit.exposures(old)[-1] == ("tests: can write (no permissions set (the repository's "
                                        "default token, which may write))")
    assert audit.artifact_problems(old) == [
        "nightly: ./../pyhf-nightly/work/logs/ is not inside the workspace",
        "nightly: if-no-files-found: ignore hides an artifact that is missing",
        "tests: .asv/pr/html/ is hidden, and include-hidden-files is not true",
    ]
    assert [line.split(": ", 1)[1] for line in audit.unpinned(OLD_NIGHTLY)] == [
        "- uses: actions/checkout@v4", "- uses: actions/upload-artifact@v4",
        "- uses: actions/upload-artifact@v4"]
    assert audit.unpinned("- uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262")


def test_every_action_is_pinned_by_commit_sha_with_its_tag():
    for name, text in WORKFLOWS.items():
        assert audit.unpinned(text) == [], name
        assert "uses:" in text


def test_the_artifacts_upload():
    for name, text in WORKFLOWS.items():
        assert audit.artifact_problems(audit.load(text)) == [], name
    nightly = audit.load(WORKFLOWS["nightly.yml"])
    uploads = [s for s in nightly["jobs"]["benchmark"]["steps"]
               if "upload" in str(s.get("uses", ""))]
    assert [s.get("with", {}).get("if-no-files-found") for s in uploads] == ["error", "error", None]


def test_dependabot_keeps_the_actions_up_to_date():
    config = yaml.safe_load((REPO_ROOT / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in config["updates"]} == {"github-actions"}
