"""The nightly run: benchmark what is new on pyhf's branch, publish, and run the gate.

The steps, the exit statuses and the paths: docs/nightly.md. The confirmation and
explanation of findings: ``verdicts.py``; the lock, log and commands: ``runtools.py``;
the machine's name: ``machines.py``.
"""

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

from . import asvconf, childenv, dashboard, history, inputs, regressions_page
from . import gate as gatelib
from . import results as resultslib
from . import stack as stacklib
from . import upstream as upstreamlib
from .machines import bench_regexes, default_machine_name, gpu_results_stored, name_says_gpu
from .runtools import (Log, NightlyError, RunLock, _redact, atomic_write_json, describe_exit,
                       git, read_json, run_cmd, stamp, utcnow)
from .support import settings
from .verdicts import Verdicts

REPO_ROOT = Path(__file__).resolve().parents[2]
ASVCALL = Path(__file__).resolve().parent / "asvcall.py"
DEFAULT_REPO = "https://github.com/scikit-hep/pyhf.git"
DEFAULT_WORKDIR = REPO_ROOT / ".asv" / "nightly"

EXIT_CLEAN, EXIT_FINDINGS, EXIT_BROKEN = 0, 1, 2


# --------------------------------------------------------------------------- the run


class Nightly(Verdicts):
    def __init__(self, args):
        self.args = args
        self.workdir = Path(args.workdir).resolve()
        committed = asvconf.load_committed_config()
        resolve = lambda value, key: Path(value if value else REPO_ROOT / committed[key]).resolve()
        self.results_dir = resolve(args.results_dir, "results_dir")
        self.html_dir = Path(args.html_dir).absolute() if args.html_dir else (
            REPO_ROOT / committed["html_dir"]).absolute()
        self.env_dir = resolve(args.env_dir, "env_dir")
        self.benchmark_dir = resolve(args.benchmark_dir, "benchmark_dir")
        self.report_dir = Path(args.report_dir).resolve()
        self.mirror = self.workdir / "pyhf.git"
        self.staging = self.workdir / "staging"
        self.journal_path = self.workdir / "journal.json"
        self.machine = args.machine or default_machine_name()
        # Meant to have a GPU: said so, named so, or measured one before under this name.
        self.expect_gpu = bool(args.expect_gpu or name_says_gpu(self.machine)
                               or gpu_results_stored(self.results_dir, self.machine))
        self.gpu_trouble_file = self.workdir / f"gpu-trouble-{os.getpid()}.jsonl"
        self.bench = bench_regexes(args.bench, args.quick_suite, gpu=True if self.expect_gpu else None)
        self.quick_run = bool(args.quick_suite and not args.bench)
        self.commit_url = args.commit_url or committed.get("show_commit_url")
        self.machine_file = str(Path(args.machine_file).resolve()) if args.machine_file else "-"
        self.started = time.monotonic()
        self.log = Log(self.workdir / "logs" / f"nightly-{stamp()}.log")
        self.child = None
        self.lock = None
        self.tag_names = {}
        self.report = None  # the gate's Report, once it ran
        self.published = False
        self.stack_path = self.workdir / "stack.json"  # the stack pyhf's commits are measured in
        self.stack = None  # that stack, tonight (plan_stacks): every configuration but legacy's
        self.summary = {"machine": self.machine, "started_at": utcnow().isoformat(
            timespec="seconds"), "broken": []}

    # configuration ------------------------------------------------------
    def write_config(self, name, results_dir, html_dir=None, benchmark_dir=None, matrix=None,
                     stack=None):
        branches = [self.args.branch]
        if self.args.branch != history.RELEASE_BRANCH and asvconf.has_branch(
                self.mirror, history.RELEASE_BRANCH):
            branches.append(history.RELEASE_BRANCH)  # the releases, graphed apart from main
        config = asvconf.derive_config(
            repo=self.mirror, branches=branches, matrix=matrix or self.args.matrix or "current",
            results_dir=results_dir, html_dir=html_dir or (self.workdir / "html-unused"),
            env_dir=self.env_dir, stack=stack if stack is not None or matrix else self.stack,
        )
        config["benchmark_dir"] = str(benchmark_dir or self.benchmark_dir)
        if self.commit_url:
            config["show_commit_url"] = self.commit_url
        return asvconf.write_config(config, self.workdir / f"asv.{name}.json")

    def env_names(self, config_path):
        """Names of the asv environments this configuration benchmarks in (None if unknown)."""
        try:
            from asv import environment
            from asv.config import Config

            conf = Config.load(str(config_path))
            return {env.name for env in environment.get_environments(conf, None, verbose=False)}
        except Exception:
            return None

    # git ------------------------------------------------------------------
    def update_mirror(self):
        repo = self.args.repo
        local = Path(repo).expanduser()
        source = str(local.resolve()) if local.exists() else repo
        if not (self.mirror / "HEAD").exists():
            self.log(f"cloning {source} into {self.mirror}")
            tmp = self.mirror.with_name(f".pyhf.git-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            git(self.workdir, "clone", "--quiet", "--mirror", source, tmp, log=self.log)
            os.replace(tmp, self.mirror)
        else:
            url = git(self.mirror, "config", "--get", "remote.origin.url", check=False).stdout.strip()
            if url != source:
                git(self.mirror, "remote", "set-url", "origin", source, log=self.log)
            self.log(f"fetching {source}")
            git(self.mirror, "fetch", "--quiet", "--prune", "--tags", "origin", log=self.log)
        head = git(self.mirror, "rev-parse", "--verify", "--quiet",
                   f"refs/heads/{self.args.branch}^{{commit}}", check=False).stdout.strip()
        if not head:
            raise NightlyError(f"branch {self.args.branch!r} does not exist in {source}")
        return head

    def branch_commits(self):
        """The branch's first-parent commits, newest first."""
        return git(self.mirror, "rev-list", "--first-parent", self.args.branch).stdout.split()

    # results --------------------------------------------------------------
    def stored(self, env_names):
        folder = self.results_dir / self.machine
        found = set()
        if not folder.is_dir():
            return found
        for path in folder.iterdir():
            if not resultslib.is_result_file(path):
                continue
            data = read_json(path)
            if not data or "commit_hash" not in data:
                continue
            if env_names and data.get("env_name") not in env_names:
                continue
            found.add(data["commit_hash"])
        return found

    def harvest(self, accept=True):
        """Move complete results from staging into the results folder, atomically per file."""
        moved = []
        if not self.staging.is_dir():
            return moved
        rejected = self.workdir / "rejected"
        for folder in sorted(p for p in self.staging.iterdir() if p.is_dir()):
            for path in sorted(folder.iterdir()):
                dest = self.results_dir / folder.name / path.name
                if path.name == "machine.json":
                    resultslib.atomic_write_text(dest, path.read_text())
                    path.unlink()
                    continue
                if not resultslib.is_result_file(path):
                    continue
                try:
                    if not accept:
                        raise resultslib.ResultsError("left by an interleaved run that did not finish")
                    loaded = resultslib.load_file(path)
                except resultslib.ResultsError as err:
                    rejected.mkdir(parents=True, exist_ok=True)
                    os.replace(path, rejected / f"{stamp()}-{path.name}")
                    self.log(f"discarded an incomplete result file: {err}")
                    continue
                resultslib.merge_result_file(path, dest)
                path.unlink()
                moved.append(loaded.commit)
        benchmarks = self.staging / "benchmarks.json"
        if benchmarks.is_file():
            if accept and resultslib.load_benchmarks_json(self.staging):
                resultslib.atomic_write_text(self.results_dir / "benchmarks.json",
                                             benchmarks.read_text())
            benchmarks.unlink()
        if moved:
            self.log(f"stored results of {len(moved)} commit(s): "
                     f"{', '.join(c[:8] for c in moved)}")
        return moved

    # journal --------------------------------------------------------------
    def load_journal(self):
        return read_json(self.journal_path, {}) or {}

    def save_journal(self, **fields):
        journal = self.load_journal()
        journal.update(fields)
        atomic_write_json(self.journal_path, journal)

    # asv ------------------------------------------------------------------
    def asv(self, *args, label="asv", env=None):
        """Run asv (through asvcall.py) streaming its output; return its exit status."""
        command = [sys.executable, str(ASVCALL), self.machine_file, *map(str, args)]
        self.log(f"{label}: asv {' '.join(map(str, args))}")
        lock_fds = tuple(self.lock.fds) if self.lock else ()
        self.child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT,
            pass_fds=lock_fds, preexec_fn=_die_with_parent, env=self.child_env(env),
        )
        try:
            for line in self.child.stdout:
                if not self.args.quiet_asv:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                self.log.raw(line)
            return self.child.wait()
        finally:
            if self.child.poll() is None:
                self.child.kill()
                self.child.wait()
            self.child = None

    def register_machine(self, config):
        rc = self.asv("machine", "--yes", "--config", config, "--machine", self.machine,
                      label="register machine")
        if rc != 0:
            raise NightlyError(f"asv machine failed ({describe_exit(rc)})")

    def run_asv(self, config, commits, results_dir, bench, extra=(), interleave=False):
        hashfile = self.workdir / f"commits-{os.getpid()}.txt"
        hashfile.write_text("\n".join(commits) + "\n")
        args = ["run", "--config", config, "--machine", self.machine, "--record-samples",
                "--skip-existing-commits", "--show-stderr",
                "--interleave-rounds" if interleave else "--no-interleave-rounds"]
        for regex in bench or ():
            args += ["--bench", regex]
        if self.args.quick:
            args.append("--quick")
        args += list(self.args.asv_arg or ()) + list(extra)
        args.append(f"HASHFILE:{hashfile}")
        # The benchmarks record why they skip, and keep their utilization series, beside the
        # results the gate and the report read (staged results are moved there).
        stored_in = self.results_dir if Path(results_dir) == self.staging else results_dir
        env = resultslib.run_context_env(stored_in, self.machine, bench or ())
        try:
            return self.asv(*args, label=f"benchmarking {len(commits)} commit(s)", env=env)
        finally:
            hashfile.unlink(missing_ok=True)
            self.collect_gpu_trouble()

    # publishing -----------------------------------------------------------
    def publish(self):
        versions = self.html_dir.parent / f".{self.html_dir.name}.versions"
        versions.mkdir(parents=True, exist_ok=True)
        try:  # asv would leave an unreadable file out: the dashboard would lack its commit
            inputs.require_readable(self.results_dir)
        except resultslib.ResultsError as err:
            raise NightlyError(f"{err}; the published dashboard is left as it was") from None
        target = versions / stamp()
        config = self.write_config("publish", self.results_dir, html_dir=target)
        rc = self.asv("publish", "--config", config, label="publish")
        if rc != 0 or not (target / "index.html").is_file():
            shutil.rmtree(target, ignore_errors=True)
            raise NightlyError(f"asv publish failed ({rc})")
        try:
            dashboard.finish_dashboard(self.results_dir, target, self.machine, say=self.log)
        except Exception as err:  # the asv dashboard is still worth publishing without them
            self.log(f"report, utilization pages or local libraries not added: "
                     f"{type(err).__name__}: {err}")
            self.summary["broken"].append(f"report, utilization pages or local libraries not "
                                          f"added: {type(err).__name__}: {err}")
        swap_symlink(self.html_dir, target)
        for old in versions.iterdir():
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
        self.log(f"published {self.html_dir} -> {target}")
        self.published = True

    def report_with_findings(self):
        """The report page again, its workload table now saying which lane flagged what."""
        from .report import add_report_pages

        try:
            add_report_pages(self.results_dir, self.html_dir.resolve(), self.machine, link=False,
                             regressions=self.report_dir / "regressions.json")
        except Exception as err:  # the dashboard and the gate's report are there already
            self.log(f"the report's workload table has no findings: {type(err).__name__}: {err}")
            self.summary["report_without_findings"] = f"{type(err).__name__}: {err}"

    def commit_results(self, commits):
        probe = self.results_dir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        top = git(probe, "rev-parse", "--show-toplevel", check=False)
        if top.returncode != 0:
            raise NightlyError(f"--commit-results: {self.results_dir} is not in a git work tree "
                               "(check out the results branch there, e.g. git worktree add)")
        if Path(top.stdout.strip()).resolve() == REPO_ROOT.resolve():
            raise NightlyError("--commit-results: the results folder is inside the benchmark "
                               "checkout itself; use a separate checkout of the results branch "
                               "(git worktree add ../results-branch results)")
        git(self.results_dir, "add", "--all", "--", ".", log=self.log)
        staged = git(self.results_dir, "diff", "--cached", "--quiet", "--", ".", check=False)
        if staged.returncode == 0:
            self.log("results: nothing new to commit")
            return False
        message = (f"Results of {self.machine}: {len(commits)} commit(s) "
                   f"{' '.join(c[:8] for c in commits)}" if commits else
                   f"Results of {self.machine}")
        git(self.results_dir, "-c", "user.name=pyhf-benchmarks nightly",
            "-c", "user.email=pyhf-benchmarks@localhost", "commit", "--quiet", "-m", message,
            "--", ".", log=self.log)
        self.log(f"results committed: {message}")
        if self.args.push_results:
            git(self.results_dir, *credential_args(self.args.push_credential_file), "push",
                "--quiet", log=self.log)
            self.log("results pushed")
        return True

    def push_html(self, remote):
        source = self.html_dir.resolve()
        with tempfile.TemporaryDirectory(prefix="gh-pages-") as tmp:
            env = dict(os.environ, GIT_DIR=str(Path(tmp) / "git"), GIT_WORK_TREE=str(source),
                       GIT_AUTHOR_NAME="pyhf-benchmarks nightly",
                       GIT_AUTHOR_EMAIL="pyhf-benchmarks@localhost",
                       GIT_COMMITTER_NAME="pyhf-benchmarks nightly",
                       GIT_COMMITTER_EMAIL="pyhf-benchmarks@localhost")
            run_cmd(["git", "init", "--quiet"], env=env)
            nojekyll = source / ".nojekyll"
            if not nojekyll.exists():
                nojekyll.touch()
            run_cmd(["git", "add", "--all", "--force", "."], env=env, cwd=source)
            run_cmd(["git", "commit", "--quiet", "-m", f"asv dashboard of {self.machine}"],
                    env=env, cwd=source)
            run_cmd(["git", *credential_args(self.args.push_credential_file), "push", "--quiet",
                     "--force", remote, "HEAD:refs/heads/gh-pages"],
                    env=env, cwd=source, log=self.log)
        self.log(f"html pushed to the gh-pages branch of {_redact(remote)}")

    def try_step(self, step):
        try:
            step()
        except NightlyError as err:
            self.log(str(err))
            self.summary["broken"].append(str(err))

    def publish_regressions(self):
        """The gate's report into the published html (``regressions_page.py``), when both exist."""
        if self.report is None or self.args.no_publish or not self.html_dir.exists():
            return
        try:
            page = regressions_page.add_regressions_page(self.report, self.html_dir.resolve())
        except Exception as err:  # the report dir still has it
            self.log(f"regressions page not added: {type(err).__name__}: {err}")
            return
        if page:
            self.log(f"regressions page: {page}")

    # gate -----------------------------------------------------------------
    def rules(self):
        rules = gatelib.Rules.from_file(self.args.gate_config) if self.args.gate_config else \
            gatelib.Rules()
        if self.args.threshold is not None:
            rules = gatelib.Rules(dict(rules.defaults, threshold=self.args.threshold),
                                  [(p.pattern, v) for p, v in rules.overrides])
        return rules

    def gate(self, commits, rules, config, notes=(), errors=(), upstream=((), ()), envs=None):
        report = gatelib.run_gate(
            self.results_dir, self.machine, commits=commits, repo=self.mirror,
            branch=self.args.branch, bench=self.bench, rules=rules,
            report_dir=self.report_dir, commit_url=self.commit_url or gatelib.DEFAULT_COMMIT_URL,
            write=False, confirming=self.args.confirm, envs=envs,
        )
        report.notes += list(notes)
        report.errors += [e for e in errors if e not in report.errors]
        self.report = report
        report.dashboard_url = self.args.dashboard_url
        configs = [config] + [p for p in [self.workdir / "asv.run-legacy.json"] if p.is_file()]
        scratch = self.workdir / f"paired-{stamp()}"  # pyhf installs shared by all three steps
        try:
            if self.args.confirm:
                self.confirm_findings(report, rules, configs, scratch)
            if self.args.explain:
                self.explain(report, rules, configs, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        report.findings += list(upstream[0])  # judged apart: never confirmed as a commit's
        report.info += list(upstream[1])
        gatelib.write_reports(report, self.report_dir)
        return report

    def remeasure(self, count, rules):
        """Measure the newest stored commits again and gate them against the stored measurements."""
        stored = self.stored(None)
        ordered = [c for c in reversed(self.branch_commits()) if c in stored][-count:]
        if not ordered:
            self.log("--remeasure: no stored commits to measure again")
            return None
        scratch = self.workdir / f"remeasure-{stamp()}"
        config = self.write_config("remeasure", scratch)
        rc = self.run_asv(config, ordered, scratch, self.bench)
        if rc not in (0, 2):
            raise NightlyError(f"asv run for --remeasure failed ({rc})")
        report = gatelib.run_gate(
            scratch, self.machine, commits=ordered, repo=self.mirror, branch=self.args.branch,
            bench=self.bench, rules=rules, report_dir=self.report_dir / "remeasure",
            commit_url=self.commit_url or gatelib.DEFAULT_COMMIT_URL,
            baseline_results_dir=self.results_dir, write=False, confirming=self.args.confirm,
        )
        if self.args.confirm:  # the same confirmations as a night's own findings
            paired_scratch = self.workdir / f"paired-{stamp()}"
            try:
                self.confirm_findings(report, rules, [config], paired_scratch)
            finally:
                shutil.rmtree(paired_scratch, ignore_errors=True)
        gatelib.write_reports(report, self.report_dir / "remeasure")
        spread = gatelib.spread(self.results_dir, scratch, self.machine, ordered, self.bench)
        atomic_write_json(self.report_dir / "remeasure" / "spread.json", spread)
        self.log(f"--remeasure: {report.status}, {len(report.findings)} findings; run-to-run "
                 f"spread (after/before) of medians {spread['median_ratio_range']}, of minima "
                 f"{spread['min_ratio_range']} over {spread['count']} measurements")
        self.summary["remeasure"] = {"status": report.status, "findings": len(report.findings),
                                     "spread": spread}
        shutil.rmtree(scratch, ignore_errors=True)
        return report

    # stacks ---------------------------------------------------------------
    def load_stack(self):
        data = read_json(self.stack_path)
        try:
            return stacklib.Stack.from_json(data, source=str(self.stack_path)) if data else None
        except (KeyError, TypeError, ValueError) as err:
            raise NightlyError(f"{self.stack_path}: not a stack record ({err}); remove it to "
                               "start from the newest releases") from None

    def save_stack(self, stack):
        atomic_write_json(self.stack_path, stack.to_json())

    def plan_stacks(self):
        """(the stack pyhf's commits are measured in tonight, the newest or given one).

        They differ when the releases moved since the last night (or ``--stack`` names
        another): the upstream lane then measures main's tip in both."""
        matrix = self.args.matrix or "current"
        current = self.load_stack()
        try:
            candidate, python = stacklib.choose(
                asvconf.matrix_requirements(matrix), self.args.stack, repo=self.mirror,
                ref=self.args.branch,
                python=asvconf.committed_python() if self.args.matrix else None)
        except stacklib.StackError as err:
            if current is None or self.args.stack:
                raise NightlyError(f"no stack to measure in: {err}") from None
            note = (f"the newest releases could not be resolved ({err}); pyhf's commits are "
                    f"measured in the last stack: {current.describe()}")
            self.log(note)
            self.summary.setdefault("notes", []).append(note)
            candidate = current
        installed = stacklib.installed_pythons()
        for stack in (current, candidate):  # asv, here and in its child, finds python3.N on PATH
            if stack is not None and stack.python in installed:
                os.environ.update(stacklib.path_env(installed[stack.python]))
        if current is None:
            current = candidate
            self.save_stack(current)
        self.stack = current
        self.summary["stack"] = current.describe()
        self.log(f"stack for pyhf's commits: {current.describe()}")
        if candidate != current:
            self.log(f"newest stack: {candidate.describe()} "
                     f"({stacklib.describe_changes(current.changes(candidate))})")
        return current, candidate

    def upstream_lane(self, current, candidate, config, rules):
        """Measure main's tip in ``candidate`` too; upstream findings from ``current`` to it.

        ``candidate`` becomes the stack for pyhf's commits once the tip was measured in it;
        a stack that breaks pyhf stays a finding, and the commits stay in ``current``."""
        changes = current.changes(candidate)
        old_envs = self.env_names(config) or set()
        stored = self.stored(old_envs)
        tip = next((c for c in self.branch_commits() if c in stored), None)
        if tip is None:
            self.log("upstream lane: main's tip has no results in the last stack; "
                     "the new stack is taken as it is")
            self.save_stack(candidate)
            return [], []
        new_config = self.write_config("run-upstream", self.staging, stack=candidate)
        new_envs = self.env_names(new_config) or set()
        self.log(f"upstream lane: {stacklib.describe_changes(changes)}: measuring {tip[:8]} "
                 "in the new stack")
        rc = self.run_asv(new_config, [tip], self.staging, self.bench)
        self.harvest()
        old_env, new_env = next(iter(old_envs), None), next(iter(new_envs), None)
        why = "; ".join(filter(None, [
            self.log_errors(), "" if rc in (0, 2) else f"asv run exited with {describe_exit(rc)}",
            f"the night's log: {self.log.path}"]))
        found, info = upstreamlib.compare(
            self.results_dir, self.machine, tip, old_env, new_env, changes, rules, self.bench,
            why_unbuilt=why)

        def measure(step, bench):  # main's tip in a stack between the two
            config = self.write_config("run-upstream-step", self.staging, stack=step)
            env = next(iter(self.env_names(config) or ()), None)
            self.log(f"upstream lane: {step.describe()} for {len(bench)} benchmark(s)")
            self.run_asv(config, [tip], self.staging, bench)
            self.harvest()
            return env if env and tip in self.stored({env}) else None

        self.summary.setdefault("notes", []).extend(upstreamlib.one_package_at_a_time(
            current, candidate, found, measure, self.results_dir, self.machine, tip, old_env,
            rules))
        in_new_stack = [c for c in resultslib.load_machine(
            self.results_dir, self.machine, on_error=lambda *a: None) if c.env_name == new_env]
        works = not any(f.upstream.get("change") == "build_failed" for f in found) and \
            not gatelib.nothing_measured(in_new_stack, [tip], lambda _: True)
        if works:
            self.save_stack(candidate)
            self.summary["stack"] = candidate.describe()
            self.log(f"upstream lane: {candidate.describe()} is the stack for pyhf's commits now")
        else:
            note = (f"the new stack ({stacklib.describe_changes(changes)}) does not run pyhf "
                    f"at {tip[:8]}: pyhf's commits stay in {current.describe()}")
            self.log(note)
            self.summary.setdefault("notes", []).append(note)
        self.summary["upstream"] = {"changes": [list(c) for c in changes], "tip": tip,
                                    "findings": len(found), "promoted": works}
        return found, info

    def log_errors(self, since="upstream lane:", count=3):
        """The last pip or asv error lines of this night's log after the last line that holds
        ``since`` (why a stack did not build)."""
        try:
            lines = self.log.path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        start = max((i for i, line in enumerate(lines) if since in line), default=0)
        errors = [line.strip() for line in lines[start:]
                  if re.match(r"\s*(ERROR\b|[\w.]*Error: )", line)]
        return " / ".join(errors[-count:])

    # the whole run --------------------------------------------------------
    def locked_folders(self):
        """Everything a night writes besides its workdir: results, html versions, reports."""
        versions = self.html_dir.parent / f".{self.html_dir.name}.versions"
        return [self.results_dir, versions, self.report_dir]

    def take_lock(self):
        """The run's RunLock, held (LockBusy where another run holds it: nothing written)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        return RunLock(self.workdir / "nightly.lock", self.locked_folders(),
                       wait=self.args.wait_lock).__enter__()

    def discard_log(self):
        """A run that never took the lock leaves no file behind, not even its log."""
        self.log.close()
        if self.log.path:
            Path(self.log.path).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # the logs folder, where this run made it
                Path(self.log.path).parent.rmdir()

    def run(self):
        """The night, under the lock (taken here unless the caller holds it, as
        nightly_cli.main does so that the record is written under it too)."""
        owned = self.lock is None
        if owned:
            self.lock = self.take_lock()
        try:
            self.clear_reports()
            if self.expect_gpu:
                self.check_gpu()
            return self._run()
        finally:
            if owned:
                self.lock.release()
                self.lock = None

    def _run(self):
        args = self.args
        self.log(f"machine {self.machine}; results {self.results_dir}; workdir {self.workdir}")
        head = self.update_mirror()
        self.log(f"{args.branch} is at {head[:8]}")
        current, candidate = self.plan_stacks()
        configs = {"default": self.write_config("run", self.staging, stack=current),
                   "legacy": self.write_config("run-legacy", self.staging,
                                               matrix=args.legacy_matrix)}
        names = [self.env_names(c) for c in configs.values()]
        env_names = None if None in names else set().union(*names)
        self.register_machine(configs["default"])

        journal = self.load_journal()
        # An interrupted interleaved run leaves partial samples: measure those commits again.
        resumed = self.harvest(accept=not journal.get("interleave") or not journal.get("running"))
        pending = [c for c in journal.get("pending", [])]
        if pending:
            self.log(f"resuming an interrupted run: {len(pending)} commit(s) planned, "
                     f"{len(resumed)} recovered from staging")
        stored = self.stored(env_names)
        new, note = select_new_commits(self.branch_commits(), stored, pending, args.max_commits)
        if note:
            self.log(note)
        to_gate = list(dict.fromkeys(pending + new))
        gated_run = [c for c in to_gate if c not in stored]
        backfill = [c for c in self.backfill_commits() if c not in stored and c not in to_gate]
        self.summary.update(commits=to_gate, backfilled=backfill, benchmarked=gated_run + backfill)

        asv_rc = None
        if gated_run:
            self.save_journal(pending=to_gate, running=True, interleave=args.interleave_rounds,
                              started_at=utcnow().isoformat(timespec="seconds"))
            self.log(f"benchmarking {len(gated_run)} commit(s): "
                     f"{' '.join(c[:8] for c in gated_run)}")
            # Always the default environment: a new commit that cannot run there is a finding.
            asv_rc = self.run_asv(configs["default"], gated_run, self.staging, self.bench,
                                  interleave=args.interleave_rounds)
            self.save_journal(running=False)
            self.harvest()
            stored = self.stored(env_names)
            missing = [c for c in gated_run if c not in stored]
            if missing:
                self.summary["broken"].append(
                    f"no results for {' '.join(c[:8] for c in missing)}")
            if asv_rc not in (0, 2) or (asv_rc == 2 and not self.failures_recorded(gated_run)):
                self.summary["broken"].append(
                    f"asv run exited with {asv_rc}" + (" although no benchmark or build of "
                    "these commits is recorded as failed" if asv_rc == 2 else ""))
        else:
            self.log("no new commits to benchmark")
        self.summary["asv_exit_status"] = asv_rc
        notes = self.run_backfill(configs, backfill, env_names) if backfill else []
        rules = self.rules()
        upstream = ([], [])
        if candidate != current:
            upstream = self.upstream_lane(current, candidate, configs["default"], rules)
        notes += self.summary.get("notes", [])

        if not args.no_publish and (gated_run or backfill or resumed or not self.html_dir.exists()):
            try:
                self.publish()
            except Exception as err:  # not only NightlyError: a failed publish is a broken night
                self.summary["broken"].append(f"publish failed: {type(err).__name__}: {err}")
        # Git and pushes may fail (network, credentials): the gate still runs and reports.
        if args.commit_results:
            self.try_step(lambda: self.commit_results(gated_run + backfill))
        try:
            report = self.gate(to_gate, rules, configs["default"], notes=notes,
                               errors=self.summary["broken"], upstream=upstream, envs=env_names)
        finally:  # the night's report on the dashboard, then the dashboard pushed
            self.publish_regressions()
            if args.push_html:
                self.try_step(lambda: self.push_html(args.push_html))
        self.summary["gate"] = {"status": report.status, "findings": len(report.findings),
                                "report": str(self.report_dir / "regressions.md")}
        if self.published:
            self.report_with_findings()
        gatelib.print_summary(report)
        if not self.summary["broken"]:
            self.save_journal(pending=[], running=False)
        if args.remeasure:
            self.remeasure(args.remeasure, rules)
        return EXIT_BROKEN if self.summary["broken"] else report.exit_code

    # history --------------------------------------------------------------
    def backfill_commits(self):
        """Release tags (``--backfill-tags``) and main's history (``--backfill-main N``)."""
        chosen = []
        if self.args.backfill_tags:
            tags = history.release_tags(self.mirror)[: self.args.max_tags]
            self.tag_names.update({commit: name for name, commit in tags})
            chosen += [commit for _, commit in tags]
        if self.args.backfill_main:
            chosen += history.backfill_plan(self.mirror, self.args.branch, self.args.backfill_main,
                                            since=self.args.backfill_since)
        return list(dict.fromkeys(chosen))

    def environment_of(self, commit):
        return "legacy" if history.needs_legacy_environment(self.mirror, commit) else "default"

    def run_in_environments(self, configs, commits, interleave=False):
        """asv run history ``commits``, each in the environment its code can run in; the worst
        exit status."""
        statuses = []
        environment = {c: self.environment_of(c) for c in commits}  # one git grep each
        for env in ("default", "legacy"):
            group = [c for c in commits if environment[c] == env]
            if group:
                if env == "legacy":
                    self.log(f"{len(group)} commit(s) call np.product (NumPy 2 removed it): "
                             f"benchmarking them in the {self.args.legacy_matrix} environment")
                statuses.append(self.run_asv(configs[env], group, self.staging, self.bench,
                                             interleave=interleave))
        return max(statuses, key=lambda rc: (rc not in (0, 2), rc != 0)) if statuses else None

    def failures_recorded(self, commits):
        """Whether asv recorded a failed benchmark or build at any of ``commits``."""
        wanted = set(commits)
        loaded = resultslib.load_machine(self.results_dir, self.machine, on_error=lambda *a: None)
        return any(m.state == resultslib.FAILED for c in loaded if c.commit in wanted
                   for m in c.measurements.values())

    def run_backfill(self, configs, commits, env_names):
        """Benchmark history commits; a commit that cannot be built here is noted, once."""
        self.log(f"backfilling {len(commits)} commit(s): {' '.join(c[:8] for c in commits)}")
        rc = self.run_in_environments(configs, commits)
        self.harvest()
        notes = []
        if rc not in (0, 2, None):
            self.summary["broken"].append(f"asv run of the backfill exited with {rc}")
        loaded = {c.commit: c for c in resultslib.load_machine(
            self.results_dir, self.machine, on_error=lambda *a: None) if c.commit in commits}
        unbuildable = [c for c in commits if c in loaded and loaded[c].build_failed]
        for commit in unbuildable:
            name = self.tag_names.get(commit, commit[:8])
            notes.append(f"{name} ({commit[:8]}) could not be built or installed in the "
                         f"{loaded[commit].env_name} environment here; it is recorded as not "
                         "buildable and not tried again (the asv log has the reason: "
                         f"{self.log.path})")
        stored = self.stored(env_names)
        missing = [c for c in commits if c not in stored]
        if missing:
            self.summary["broken"].append(
                f"no results for backfilled {' '.join(c[:8] for c in missing)}")
        self.summary["not_buildable"] = [self.tag_names.get(c, c) for c in unbuildable]
        return notes

    # GPU ------------------------------------------------------------------
    def check_gpu(self):
        """On a machine meant to have a GPU: NVML must list one, or the night is broken."""
        from .support import support_module

        gpus = support_module("gpus")
        why = f"{self.machine} is meant to have a GPU"
        try:
            inventory = gpus.gpu_inventory()
        except gpus.GpuTrouble as err:
            raise NightlyError(f"{why}, but {err}") from None
        if not inventory["gpus"]:
            raise NightlyError(f"{why}, but {inventory['reason']}")
        self.summary["gpus"] = [gpu.get("name") for gpu in inventory["gpus"]]

    def child_env(self, extra=None):
        """The asv child's environment: the allow-list of ``childenv`` (no token of the host
        reaches a pyhf build or a benchmark), and on a GPU machine, no GPU in a benchmark is
        trouble."""
        env = childenv.child_environ(extra)
        if self.quick_run:
            env[settings.QUICK_SUITE] = "1"
        if self.expect_gpu:
            env.update({settings.EXPECT_GPU: "1", settings.GPU_TROUBLE_FILE: str(self.gpu_trouble_file)})
        return env

    def collect_gpu_trouble(self):
        """GPU trouble the benchmarks recorded (asv keeps no stderr): reasons of a broken night."""
        try:
            lines = self.gpu_trouble_file.read_text().splitlines()
        except OSError:
            return
        self.gpu_trouble_file.unlink(missing_ok=True)
        for line in lines:
            with contextlib.suppress(ValueError):
                reason = f"GPU trouble: {json.loads(line)['reason']}"
                if reason not in self.summary["broken"]:
                    self.summary["broken"].append(reason)

    #: What the report dir holds for one night; removed when a run starts (see finish).
    REPORT_FILES = ("regressions.md", "regressions.json", "last-run.json", "nightly.log")

    def clear_reports(self):
        for name in self.REPORT_FILES:
            (self.report_dir / name).unlink(missing_ok=True)

    def write_broken_report(self):
        """regressions.md/.json saying the night broke, and why (with the gate's findings, if it ran)."""
        report = self.report or gatelib.Report(
            machine=self.machine, commits=list(self.summary.get("commits") or []), findings=[],
            info=[], commit_url=self.commit_url or gatelib.DEFAULT_COMMIT_URL)
        # The gate's own reasons (nothing measured, no results) already say why: no generic line.
        generic = [] if report.exit_code == EXIT_BROKEN else ["the run broke"]
        for reason in self.summary["broken"] or generic:
            if reason not in report.errors:
                report.errors.append(reason)
        try:
            gatelib.write_reports(report, self.report_dir)
        except Exception as err:  # the record in last-run.json still says why
            self.log(f"could not write the broken night's report: {type(err).__name__}: {err}")

    def finish(self, code, error=None):
        self.summary.update(exit_status=code, wall_s=round(time.monotonic() - self.started, 1),
                            finished_at=utcnow().isoformat(timespec="seconds"),
                            log=str(self.log.path))
        if error:
            self.summary["broken"].append(error)
        if code == EXIT_BROKEN:
            self.write_broken_report()
        for folder in (self.workdir, self.report_dir):
            with contextlib.suppress(OSError):
                atomic_write_json(folder / "last-run.json", self.summary)
        self.log(f"done: exit status {code} in {self.summary['wall_s']} s"
                 + (f" ({'; '.join(self.summary['broken'])})" if self.summary["broken"] else ""))
        self.log.close()
        self.keep_log()

    def keep_log(self):
        """A copy of the night's log in the report dir, beside its record: the log itself is
        in the workdir, which a CI runner keeps outside the workspace it uploads from."""
        if self.log.path and Path(self.log.path).is_file():
            with contextlib.suppress(OSError):
                self.report_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.log.path, self.report_dir / "nightly.log")


def select_new_commits(branch, stored, pending=(), max_commits=10):
    """The commits to benchmark, oldest first, and a note for the log (or None).

    ``branch``: the branch's first-parent commits, newest first. New are the
    commits above the newest one with results (or planned by an interrupted
    run); on a first run, with nothing stored, only the branch head; at most
    the newest ``max_commits``.
    """
    new = []
    for commit in branch:
        if commit in stored or commit in pending:
            break
        new.append(commit)
    note = None
    if not set(stored) & set(branch) and not pending:
        new = new[:1]
        note = ("no results on this machine yet: benchmarking the branch head only "
                "(use --backfill-tags or asv run for history)")
    elif len(new) > max_commits:
        note = f"{len(new)} new commits; benchmarking the newest {max_commits}"
        new = new[:max_commits]
    return list(reversed(new)), note


#: Prefixes of GitHub's tokens, which git also takes as the user name of an https URL.
TOKEN_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")


def credential_in_url(url):
    """Whether a git remote URL carries a credential (https://user:token@host, https://ghp_...@host):
    on a command line every process of the machine can read it (/proc/PID/cmdline)."""
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme not in ("http", "https"):
        return False
    return parts.password is not None or (parts.username or "").startswith(TOKEN_PREFIXES)


def credential_args(credential_file):
    """git options that read the push credential from ``credential_file`` (git-credential-store's
    format, one https://user:token@host line) and from no other helper; none without a file
    (git's own configured helper, or ssh, then answers)."""
    if not credential_file:
        return []
    path = shlex.quote(str(Path(credential_file).expanduser().resolve()))
    return ["-c", "credential.helper=", "-c", f"credential.helper=store --file={path}"]


def _die_with_parent():
    """In the asv child: get SIGTERM when the nightly process dies (Linux), so no orphan runs on."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def swap_symlink(link, target):
    """Point ``link`` at ``target`` in one rename (a real folder there is moved aside first)."""
    link = Path(link)
    relative = os.path.relpath(target, link.parent)
    tmp = link.with_name(f".{link.name}.link-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(relative, tmp)
    if link.exists() and not link.is_symlink():
        aside = link.with_name(f".{link.name}.old-{stamp()}")
        os.replace(link, aside)
        shutil.rmtree(aside, ignore_errors=True)
    os.replace(tmp, link)
