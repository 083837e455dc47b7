"""A nightly to drive from tests.

``make_nightly`` builds a ``nightly.Nightly`` on folders under ``tmp_path`` (no asv run;
tests/test_nightly.py, test_report_lanes.py, test_explain_report.py). ``Lab`` is a local
clone of pyhf's real history (``../shared/pyhf``) with the nightly's folders, a private copy
of the suite and a way to run ``scripts/nightly`` on it for real, its exit and reports read
back as a ``Run`` (tests/test_nightly_e2e.py, test_explain_e2e.py). The lab's asv environment
(the ``numpy`` preset) is built in ``.asv/test-env-nightly``, or ``PYHF_BENCH_NIGHTLY_TEST_ENV``.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import clone_pyhf_history
from pyhfbench import localrepo, nightly, nightly_cli
from helpers.gate_results import MACHINE as RESULTS_MACHINE

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_DIR = Path(os.environ.get("PYHF_BENCH_NIGHTLY_TEST_ENV", REPO_ROOT / ".asv" / "test-env-nightly"))
#: The lab's default machine name and benchmarks (tests/test_nightly_e2e.py's).
MACHINE = "nightly-e2e"
BENCH = (r"bench_baseline\.HypotestUncorrelatedBackground\.(time_hypotest|track_cls_obs)"
         r"\('numpy', 'cpu', (1|10)\)")
#: The gate's time threshold in the lab's nightly runs: x1.5, far above what the confirmation
#: step lets through on a busy 2-core machine, far below the injected slowdown.
THRESHOLD = "0.5"


def make_nightly(tmp_path, *extra):
    """A ``Nightly`` for the synthetic results' machine (helpers.gate_results.MACHINE)."""
    args = nightly_cli.build_parser().parse_args([
        "--machine", RESULTS_MACHINE, "--workdir", str(tmp_path / "work"),
        "--results-dir", str(tmp_path / "results"), "--html-dir", str(tmp_path / "html"),
        "--report-dir", str(tmp_path / "reports"), *extra,
    ])
    return nightly.Nightly(args)


def copy_suite(root, modules=("bench_baseline.py",)):
    """The suite's baseline module (or ``modules``) with the code it imports, alone, in a
    checkout-like ``root``.

    ``root/benchmarks`` holds ``common.py``, ``support/`` and ``bench_baseline.py``;
    ``root/pallets`` the pallet registry, which the support code finds beside
    ``benchmarks/`` as it does in the checkout.
    """
    source = REPO_ROOT / "benchmarks"
    dest = root / "benchmarks"
    dest.mkdir(parents=True)
    for name in ("__init__.py", "common.py", *modules):
        shutil.copy2(source / name, dest / name)
    shutil.copytree(source / "support", dest / "support",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "pallets", root / "pallets",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


class Lab:
    """A local pyhf repository, the nightly's folders, and a way to run it."""

    def __init__(self, work, modules=("bench_baseline.py",), bench=(BENCH,), machine=MACHINE):
        self.work = work
        self.bench, self.machine = list(bench), machine
        self.repo = clone_pyhf_history(work / "pyhf")
        self.commits = {"main": git(self.repo, "rev-parse", "main")}
        self.suite = copy_suite(work / "suite", modules)
        self.results = work / "results-branch" / "results"
        self.results.mkdir(parents=True)
        git(self.results.parent, "init", "--quiet", "--initial-branch=results")
        self.pages = work / "pages.git"
        git(work, "init", "--quiet", "--bare", str(self.pages))
        self.workdir = work / "nightly"
        self.reports = work / "reports"
        self.html = work / "html"
        self.timings = {}

    def add(self, label, **changes):
        commit = localrepo.add_commit(self.repo, label, **changes)
        self.commits[label] = commit
        return commit

    def command(self, *extra):
        return [
            sys.executable, str(REPO_ROOT / "scripts" / "nightly"),
            "--repo", str(self.repo), "--machine", self.machine,
            "--machine-file", str(self.work / "asv-machine.json"),
            "--matrix", "numpy", *[arg for b in self.bench for arg in ("--bench", b)],
            "--threshold", THRESHOLD,
            "--workdir", str(self.workdir), "--results-dir", str(self.results),
            "--html-dir", str(self.html), "--env-dir", str(ENV_DIR),
            "--benchmark-dir", str(self.suite), "--report-dir", str(self.reports),
            "--commit-url", "https://example.org/pyhf/commit/", "--confirm-rounds", "2", *extra,
        ]

    def nightly(self, *extra, name=None, timeout=900):
        started = time.monotonic()
        proc = subprocess.run(self.command(*extra), capture_output=True, text=True,
                              cwd=REPO_ROOT, timeout=timeout)
        self.timings[name or " ".join(extra) or "run"] = round(time.monotonic() - started, 1)
        run = Run(proc, self)
        print(f"--- nightly {name}: exit {proc.returncode} in {self.timings[name or ' '.join(extra) or 'run']} s")
        print(proc.stdout[-4000:], proc.stderr[-4000:])
        return run

    def result_file(self, commit):
        found = list((self.results / self.machine).glob(f"{commit[:8]}-*.json"))
        return found[0] if found else None

    def values(self, commit):
        data = json.loads(self.result_file(commit).read_text())
        columns = data["result_columns"]
        out = {}
        for name, row in data["results"].items():
            row = dict(zip(columns, row))
            params = row["params"]
            combos = [()]
            for values in params:
                combos = [c + (v.strip("'"),) for c in combos for v in values]
            values = row["result"] or [None] * len(combos)
            out[name] = dict(zip(combos, values))
        return out


class Run:
    def __init__(self, proc, lab):
        self.code = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.summary = json.loads((lab.workdir / "last-run.json").read_text())
        report = lab.reports / "regressions.json"
        self.report = json.loads(report.read_text()) if report.exists() else None
        self.markdown = (lab.reports / "regressions.md").read_text() if report.exists() else ""

    def findings(self):
        return sorted((f["kind"], (f["benchmark"] or "").rsplit(".", 1)[-1],
                       f["params"].get("n_bins"), f["commit"]) for f in self.report["findings"])
