"""The nightly run: benchmark what is new on pyhf's branch, publish, and run the gate.

One idempotent command for cron or a CI runner (``scripts/nightly``)::

    scripts/nightly [--repo URL|PATH] [--branch main] [--machine NAME] [--bench REGEX]...

Steps, each safe to repeat:

1. take the lock (``fcntl.flock`` on ``<workdir>/nightly.lock`` and on the
   results folder itself): a second run waits ``--wait-lock`` seconds, then
   gives up with exit status 2;
2. update the mirror clone of pyhf (``<workdir>/pyhf.git``), from ``--repo``;
3. write the asv configurations derived from asv.conf.json
   (``scripts/pyhfbench/asvconf.py``) and register the machine;
4. resume: move results a previous, interrupted run completed from the
   staging folder into the results folder;
5. pick the commits not yet benchmarked on this machine: the branch's
   commits after the newest one with results (the branch head on a first
   run; at most ``--max-commits``), plus the commits an interrupted run had
   planned, plus with ``--backfill-tags`` the release tags without results;
6. ``asv run`` them with recorded samples (``--record-samples``). asv
   writes into ``<workdir>/staging``; each completed commit is then moved into
   the results folder by write-to-temporary-and-rename, so the results
   folder only ever holds complete files. A commit that does not build, or a
   benchmark that crashes, is recorded (as failed) and the other commits are
   still measured;
7. ``asv publish`` into a fresh folder, then swap the ``--html-dir``
   symlink to it in one rename;
8. optionally commit the results to git (``--commit-results``: the results
   folder is a checkout of a results branch, as in astropy-benchmarks),
   push them (``--push-results``) and push the html to a gh-pages branch
   (``--push-html URL``);
9. run the gate (``scripts/pyhfbench/gate.py``) on the commits of this run
   and, for time findings, confirm them (``--confirm``, default): the flagged
   commit and its baseline are measured again side by side (interleaved asv
   rounds) and a finding stands only when the pair shows it again.

Exit status: 0 clean (including "no new commits"), 1 findings (the gate's
``regressions.md`` says which), 2 the run itself broke (lock held, git or asv
failed, a planned commit left without results).

Paths (defaults, all in this checkout): ``--workdir .asv/nightly`` (mirror,
staging, lock, journal, logs, derived configs), ``--results-dir results``,
``--html-dir html``, ``--env-dir .asv/env``, ``--report-dir .asv/reports``
(``regressions.md``, ``regressions.json``; ``last-run.json`` is in the
workdir).
"""

import argparse
import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import asvconf, dashboard
from . import gate as gatelib
from . import results as resultslib

REPO_ROOT = Path(__file__).resolve().parents[2]
ASVCALL = Path(__file__).resolve().parent / "asvcall.py"
DEFAULT_REPO = "https://github.com/scikit-hep/pyhf.git"
DEFAULT_WORKDIR = REPO_ROOT / ".asv" / "nightly"

EXIT_CLEAN, EXIT_FINDINGS, EXIT_BROKEN = 0, 1, 2


class NightlyError(RuntimeError):
    """The run cannot go on (exit status 2)."""


class LockBusy(NightlyError):
    pass


# --------------------------------------------------------------------------- small helpers


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def stamp():
    return utcnow().strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"


class Log:
    """Timestamped lines to stdout and to the run's log file."""

    def __init__(self, path=None):
        self.path = path
        self.handle = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(path, "a", buffering=1)

    def __call__(self, message):
        line = f"[nightly {utcnow().strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        self.raw(line + "\n")

    def raw(self, text):
        if self.handle:
            self.handle.write(text)

    def close(self):
        if self.handle:
            self.handle.close()


def run_cmd(args, log=None, check=True, cwd=None, env=None):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                            env=env)
    shown = _redact(" ".join(str(a) for a in args))
    if log:
        log.raw(f"$ {shown}\n{_redact(result.stdout)}{_redact(result.stderr)}")
    if check and result.returncode != 0:
        raise NightlyError(f"{shown[:200]} failed ({result.returncode}): "
                           f"{_redact(result.stderr.strip()[-2000:])}")
    return result


def git(repo, *args, log=None, check=True):
    return run_cmd(["git", "-C", repo, *args], log=log, check=check)


def atomic_write_json(path, data, indent=2):
    return resultslib.atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def read_json(path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def gpu_model():
    """The first NVIDIA GPU's model name, or None on a host without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return names[0] if out.returncode == 0 and names else None


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def default_machine_name():
    """``<host>-<gpu model>`` on GPU hosts (``node7-h100-80gb-hbm3``), else ``<host>-cpu``.

    The suite's own naming (``benchmarks/support/monitor.py``, through NVML), as
    ``scripts/main-job`` uses; ``nvidia-smi`` where that cannot be imported.
    """
    try:
        from . import mainjob

        return mainjob.asvconf_machine_name()
    except Exception:
        return smi_machine_name()


def smi_machine_name():
    host = slug(socket.gethostname().split(".")[0]) or "host"
    gpu = gpu_model()
    return f"{host}-{re.sub(r'^nvidia-', '', slug(gpu))}" if gpu else f"{host}-cpu"


def bench_regexes(user_bench=(), quick_suite=False):
    """asv ``--bench`` regexes: the user's (or the quick suite), without GPU combinations on a host
    without a GPU (they would only be skipped, one process each), as ``scripts/main-job`` does."""
    from . import mainjob

    selection = list(user_bench or ()) or (list(mainjob.QUICK_SUITE) if quick_suite else [])
    try:
        gpu = mainjob.gpu_present()
    except Exception:
        gpu = gpu_model() is not None
    return mainjob.bench_selection(selection, gpu)


# --------------------------------------------------------------------------- the lock


class RunLock:
    """Exclusive ``flock`` on the workdir's lock file and on the results folder.

    The lock belongs to the open file description, so the asv child process
    inherits it (``fds``): an orphaned asv keeps it until it exits, and a
    crashed run releases it with its last process.
    """

    def __init__(self, lock_file, directories=(), wait=0.0):
        self.lock_file = Path(lock_file)
        self.directories = [Path(d) for d in directories]
        self.wait = wait
        self.fds = []

    def _flock(self, fd, what):
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = ""
                    with contextlib.suppress(OSError, ValueError):
                        info = json.loads(self.lock_file.read_text() or "{}")
                        holder = f" (pid {info.get('pid')}, since {info.get('since')})"
                    raise LockBusy(f"another nightly run holds the lock on {what}{holder}") from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def __enter__(self):
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            self.fds.append(fd)
            self._flock(fd, self.lock_file)
            for directory in self.directories:
                directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(directory, os.O_RDONLY)
                self.fds.append(fd)
                self._flock(fd, directory)
        except BaseException:
            self.release()
            raise
        os.ftruncate(self.fds[0], 0)
        os.pwrite(self.fds[0], json.dumps(
            {"pid": os.getpid(), "since": utcnow().isoformat(timespec="seconds")}).encode(), 0)
        return self

    def release(self):
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []

    def __exit__(self, *exc):
        self.release()


# --------------------------------------------------------------------------- the run


class Nightly:
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
        self.bench = bench_regexes(args.bench, args.quick_suite)
        self.commit_url = args.commit_url or committed.get("show_commit_url")
        self.machine_file = str(Path(args.machine_file).resolve()) if args.machine_file else "-"
        self.started = time.monotonic()
        self.log = Log(self.workdir / "logs" / f"nightly-{stamp()}.log")
        self.child = None
        self.lock = None
        self.summary = {"machine": self.machine, "started_at": utcnow().isoformat(
            timespec="seconds"), "broken": []}

    # configuration ------------------------------------------------------
    def write_config(self, name, results_dir, html_dir=None, benchmark_dir=None):
        config = asvconf.derive_config(
            repo=self.mirror, branches=[self.args.branch], matrix=self.args.matrix,
            results_dir=results_dir, html_dir=html_dir or (self.workdir / "html-unused"),
            env_dir=self.env_dir,
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

    def release_tags(self):
        out = git(self.mirror, "tag", "--merged", self.args.branch,
                  "--format=%(objectname) %(*objectname) %(refname:short)").stdout
        tags = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3:
                commit, name = parts[1], parts[2]
            else:
                commit, name = parts[0], parts[-1]
            if re.match(r"v?\d+(\.\d+)*$", name):
                tags.append((name, commit))
        return tags

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
                data = json.loads(path.read_text())
                old = read_json(dest) if dest.exists() else None
                if old and old.get("result_columns") == data.get("result_columns"):
                    merged = dict(old)
                    merged.update({k: v for k, v in data.items() if k not in ("results", "durations")})
                    merged["results"] = {**old.get("results", {}), **data.get("results", {})}
                    merged["durations"] = {**old.get("durations", {}), **data.get("durations", {})}
                    data = merged
                resultslib.atomic_write_text(dest, json.dumps(data, separators=(",", ":")))
                path.unlink()
                moved.append(loaded.commit)
        benchmarks = self.staging / "benchmarks.json"
        if benchmarks.is_file():
            if accept and read_json(benchmarks) is not None:
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
    def asv(self, *args, label="asv"):
        """Run asv (through asvcall.py) streaming its output; return its exit status."""
        command = [sys.executable, str(ASVCALL), self.machine_file, *map(str, args)]
        self.log(f"{label}: asv {' '.join(map(str, args))}")
        lock_fds = tuple(self.lock.fds) if self.lock else ()
        self.child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT,
            pass_fds=lock_fds, preexec_fn=_die_with_parent,
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
            raise NightlyError(f"asv machine failed ({rc})")

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
        try:
            return self.asv(*args, label=f"benchmarking {len(commits)} commit(s)")
        finally:
            hashfile.unlink(missing_ok=True)

    # publishing -----------------------------------------------------------
    def publish(self):
        versions = self.html_dir.parent / f".{self.html_dir.name}.versions"
        versions.mkdir(parents=True, exist_ok=True)
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
        swap_symlink(self.html_dir, target)
        for old in versions.iterdir():
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
        self.log(f"published {self.html_dir} -> {target}")

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
            git(self.results_dir, "push", "--quiet", log=self.log)
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
            run_cmd(["git", "push", "--quiet", "--force", remote, "HEAD:refs/heads/gh-pages"],
                    env=env, cwd=source, log=self.log)
        self.log(f"html pushed to the gh-pages branch of {_redact(remote)}")

    # gate -----------------------------------------------------------------
    def rules(self):
        rules = gatelib.Rules.from_file(self.args.gate_config) if self.args.gate_config else \
            gatelib.Rules()
        if self.args.threshold is not None:
            rules = gatelib.Rules(dict(rules.defaults, threshold=self.args.threshold),
                                  [(p.pattern, v) for p, v in rules.overrides])
        return rules

    def gate(self, commits, rules, config):
        report = gatelib.run_gate(
            self.results_dir, self.machine, commits=commits, repo=self.mirror,
            branch=self.args.branch, bench=self.bench, rules=rules,
            report_dir=self.report_dir, commit_url=self.commit_url or gatelib.DEFAULT_COMMIT_URL,
            write=False,
        )
        slower = [f for f in report.findings if f.kind == "slower"]
        if slower and self.args.confirm:
            self.confirm(report, slower, rules, config)
        gatelib.write_reports(report, self.report_dir)
        return report

    def confirm(self, report, slower, rules, config):
        """Measure each flagged commit and its baseline again, side by side; keep what repeats."""
        scratch = self.workdir / f"confirm-{stamp()}"
        confirm_config = self.write_config("confirm", scratch)
        commits = sorted({c for f in slower for c in (f.baseline_commit, f.commit)})
        labels = sorted({f.label for f in slower})
        bench = ["^" + re.escape(label) + "$" for label in labels]
        self.log(f"confirming {len(slower)} slowdown(s): re-measuring {len(commits)} commits "
                 "side by side")
        rc = self.run_asv(confirm_config, commits, scratch, bench, interleave=True,
                          extra=["-a", f"rounds={self.args.confirm_rounds}"])
        try:
            if rc not in (0, 2):
                self.log(f"confirmation run failed ({rc}); findings kept unconfirmed")
                for f in slower:
                    f.detail += "; not confirmed (the confirmation run failed)"
                return
            again = {c.commit: c for c in resultslib.load_machine(scratch, self.machine,
                                                                  on_error=lambda *a: None)}
            for f in slower:
                key = (f.benchmark, tuple(f.param_reprs))
                before = again.get(f.baseline_commit)
                after = again.get(f.commit)
                mb = before.get(*key) if before else None
                ma = after.get(*key) if after else None
                if not (mb and ma and mb.state == ma.state == resultslib.OK):
                    f.detail += "; confirmation could not measure the pair (kept)"
                    continue
                confirmed, ratio, p = gatelib.confirm_pair(mb, ma, rules.for_label(f.label))
                f.confirmation = {"before": gatelib._summary(mb), "after": gatelib._summary(ma),
                                  "ratio": ratio, "p_value": p, "confirmed": confirmed}
                rule = rules.for_label(f.label)
                shown = f"{rule.confirm_statistic} x{ratio:.2f}" + (
                    "" if p is None else f", p={p:.2g}")
                if confirmed:
                    f.detail += f"; confirmed side by side ({shown})"
                else:
                    report.findings.remove(f)
                    f.kind = "unconfirmed"
                    f.detail += f"; NOT confirmed side by side ({shown}): noise"
                    report.info.append(f)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

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
            baseline_results_dir=self.results_dir,
        )
        spread = gatelib.spread(self.results_dir, scratch, self.machine, ordered, self.bench)
        atomic_write_json(self.report_dir / "remeasure" / "spread.json", spread)
        self.log(f"--remeasure: {report.status}, {len(report.findings)} findings; run-to-run "
                 f"spread (after/before) of medians {spread['median_ratio_range']}, of minima "
                 f"{spread['min_ratio_range']} over {spread['count']} measurements")
        self.summary["remeasure"] = {"status": report.status, "findings": len(report.findings),
                                     "spread": spread}
        shutil.rmtree(scratch, ignore_errors=True)
        return report

    # the whole run --------------------------------------------------------
    def run(self):
        args = self.args
        self.workdir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.workdir / "nightly.lock", [self.results_dir], wait=args.wait_lock) as lock:
            self.lock = lock
            try:
                return self._run()
            finally:
                self.lock = None

    def _run(self):
        args = self.args
        self.log(f"machine {self.machine}; results {self.results_dir}; workdir {self.workdir}")
        head = self.update_mirror()
        self.log(f"{args.branch} is at {head[:8]}")
        config = self.write_config("run", self.staging)
        env_names = self.env_names(config)
        self.register_machine(config)

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
        tags = []
        if args.backfill_tags:
            tags = [c for _, c in self.release_tags() if c not in stored and c not in new]
            if tags:
                self.log(f"backfilling {len(tags)} release tag(s)")
        to_gate = list(dict.fromkeys(pending + new))
        to_run = [c for c in dict.fromkeys(tags + to_gate) if c not in stored]
        self.summary.update(commits=to_gate, backfilled=tags, benchmarked=to_run)

        asv_rc = None
        if to_run:
            self.save_journal(pending=to_gate, running=True, interleave=args.interleave_rounds,
                              started_at=utcnow().isoformat(timespec="seconds"))
            self.log(f"benchmarking {len(to_run)} commit(s): {' '.join(c[:8] for c in to_run)}")
            asv_rc = self.run_asv(config, to_run, self.staging, self.bench,
                                  interleave=args.interleave_rounds)
            self.save_journal(running=False)
            self.harvest()
            if asv_rc not in (0, 2):
                self.summary["broken"].append(f"asv run exited with {asv_rc}")
            stored = self.stored(env_names)
            missing = [c for c in to_run if c not in stored]
            if missing:
                self.summary["broken"].append(
                    f"no results for {' '.join(c[:8] for c in missing)}")
        else:
            self.log("no new commits to benchmark")
        self.summary["asv_exit_status"] = asv_rc

        if not args.no_publish and (to_run or resumed or not self.html_dir.exists()):
            try:
                self.publish()
            except NightlyError as err:
                self.summary["broken"].append(str(err))
        # Git and pushes may fail (network, credentials): the gate still runs and reports.
        for wanted, step in ((args.commit_results, lambda: self.commit_results(to_run)),
                             (args.push_html, lambda: self.push_html(args.push_html))):
            if wanted:
                try:
                    step()
                except NightlyError as err:
                    self.log(str(err))
                    self.summary["broken"].append(str(err))

        rules = self.rules()
        report = self.gate(to_gate, rules, config)
        self.summary["gate"] = {"status": report.status, "findings": len(report.findings),
                                "report": str(self.report_dir / "regressions.md")}
        gatelib.print_summary(report)
        if not self.summary["broken"]:
            self.save_journal(pending=[], running=False)
        if args.remeasure:
            self.remeasure(args.remeasure, rules)

        code = report.exit_code
        if self.summary["broken"]:
            code = EXIT_BROKEN
        return code

    def finish(self, code, error=None):
        self.summary.update(exit_status=code, wall_s=round(time.monotonic() - self.started, 1),
                            finished_at=utcnow().isoformat(timespec="seconds"),
                            log=str(self.log.path))
        if error:
            self.summary["broken"].append(error)
        with contextlib.suppress(OSError):
            atomic_write_json(self.workdir / "last-run.json", self.summary)
        self.log(f"done: exit status {code} in {self.summary['wall_s']} s"
                 + (f" ({'; '.join(self.summary['broken'])})" if self.summary["broken"] else ""))
        self.log.close()


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


def _redact(text):
    """Hide credentials in URLs (https://user:token@host) before they reach a log."""
    return re.sub(r"//[^/@\s]+@", "//***@", text)


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


def build_parser():
    committed = asvconf.load_committed_config()
    p = argparse.ArgumentParser(
        prog="scripts/nightly",
        description="Benchmark the new commits of pyhf's branch, publish, and gate them. "
        "Exit 0 clean, 1 findings, 2 the run broke.",
    )
    p.add_argument("--repo", default=DEFAULT_REPO, help=f"pyhf repository, URL or path (default {DEFAULT_REPO})")
    p.add_argument("--branch", default="main")
    p.add_argument("--machine", help="asv machine name (default: <host>-<GPU model> or <host>-cpu)")
    p.add_argument("--machine-file", help="asv machine file instead of ~/.asv-machine.json")
    p.add_argument("--bench", action="append", metavar="REGEX",
                   help="only benchmarks whose name(params) match (repeatable; passed to asv and "
                   "to the gate; on a host without a GPU, GPU combinations are left out)")
    p.add_argument("--matrix", help="requirement preset of scripts/asvconf (default: asv.conf.json's)")
    p.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="default: .asv/nightly")
    p.add_argument("--results-dir", help=f"default: {committed['results_dir']}/")
    p.add_argument("--html-dir", help=f"default: {committed['html_dir']}/ (a symlink, swapped atomically)")
    p.add_argument("--env-dir", help=f"default: {committed['env_dir']}")
    p.add_argument("--benchmark-dir", help=f"default: {committed['benchmark_dir']}/")
    p.add_argument("--report-dir", default=str(gatelib.DEFAULT_REPORT_DIR),
                   help="where the gate writes regressions.md and .json (default: .asv/reports)")
    p.add_argument("--max-commits", type=int, default=10,
                   help="benchmark at most the newest N new commits (default 10)")
    p.add_argument("--backfill-tags", action="store_true",
                   help="also benchmark release tags on the branch that have no results")
    p.add_argument("--quick-suite", action="store_true",
                   help="without --bench: only scripts/main-job's quick suite (a slice of every "
                   "workload), the pull-request workflow's selection")
    p.add_argument("--quick", action="store_true", help="asv --quick: one sample each (smoke test)")
    p.add_argument("--interleave-rounds", action="store_true",
                   help="interleave asv rounds across commits (an interrupted run then "
                   "re-measures its commits)")
    p.add_argument("--asv-arg", action="append", metavar="ARG",
                   help="extra argument for asv run, e.g. --asv-arg=-a --asv-arg=rounds=4")
    p.add_argument("--no-publish", action="store_true")
    p.add_argument("--commit-results", action="store_true",
                   help="commit new results in the results folder's git work tree")
    p.add_argument("--push-results", action="store_true", help="and push that commit")
    p.add_argument("--push-html", metavar="REMOTE",
                   help="force-push the html to the gh-pages branch of this git remote URL")
    p.add_argument("--gate-config", help="JSON file of per-benchmark gate thresholds")
    p.add_argument("--threshold", type=float, help="default time_ threshold of the gate")
    p.add_argument("--no-confirm", dest="confirm", action="store_false",
                   help="do not re-measure flagged slowdowns side by side")
    p.add_argument("--confirm-rounds", type=int, default=4, metavar="N",
                   help="asv rounds of the side-by-side confirmation, interleaved between the "
                   "two commits (default 4: twice asv's default, for more samples)")
    p.add_argument("--commit-url", help="prefix of commit links in the report")
    p.add_argument("--remeasure", type=int, default=0, metavar="N",
                   help="afterwards measure the newest N stored commits again and gate them "
                   "against the stored results (a noise check; report in <report-dir>/remeasure)")
    p.add_argument("--wait-lock", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run's lock (default: give up at once)")
    p.add_argument("--quiet-asv", action="store_true", help="asv's output to the log file only")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    nightly = Nightly(args)

    def on_signal(signum, frame):
        if nightly.child is not None and nightly.child.poll() is None:
            with contextlib.suppress(OSError):
                nightly.child.terminate()
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        code = nightly.run()
        nightly.finish(code)
    except (NightlyError, gatelib.GateError, resultslib.ResultsError) as err:
        print(f"nightly: {err}", file=sys.stderr)
        code = EXIT_BROKEN
        nightly.finish(code, str(err))
    except KeyboardInterrupt as err:
        print(f"nightly: interrupted ({err}); the next run resumes", file=sys.stderr)
        code = EXIT_BROKEN
        nightly.finish(code, f"interrupted ({err})")
    return code
