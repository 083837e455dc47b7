"""The main job on its embedded default: no GPU, no internet beyond the package registries.

1. Take pyhf's real history from the git bundle beside the checkout
   (../shared/pyhf/pyhf-main.bundle, a stand-in for GitHub) and measure the
   last release (v0.7.6, on ``release/v0.7.x``) and ``main``'s tip; without
   the bundle, build a local repository from the last releases on PyPI (one
   tagged commit per sdist).
2. Derive an asv configuration that points the committed one at it.
3. ``asv run`` the suite on every commit with the CPU backends, on the
   generated pallets and, where a local mirror is given (or found beside the
   checkout at ../shared/pallets), the published ones.
4. ``asv publish`` and print where the dashboard is, with a short summary.

With internet, the real thing is plain asv on the committed configuration
(see docs/configurations.md): ``asv run`` against pyhf main on GitHub.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from . import asvconf, childenv, dashboard, localrepo
from . import stack as stacklib
from . import results as resultslib
from .support import settings, support_module

REPO_ROOT = asvconf.REPO_ROOT
WORK_DIR = REPO_ROOT / ".asv" / "main-job"
DEFAULT_MIRROR = REPO_ROOT.parent / "shared" / "pallets"
DEFAULT_RELEASES = ("0.7.5", "0.7.6")
#: pyhf's real history beside the checkout (see ../shared/pyhf/README.md).
DEFAULT_BUNDLE = REPO_ROOT.parent / "shared" / "pyhf" / "pyhf-main.bundle"
#: What the main job measures in pyhf's real history: the last release and main's tip.
DEFAULT_REVISIONS = ("v0.7.6", "main")
BRANCHES = ("main", "release/v0.7.x")


class MainJobError(RuntimeError):
    pass


def run_asv(config, *args):
    command = [sys.executable, "-m", "asv", *args, "--config", str(config)]
    print("$", " ".join(command[2:]), flush=True)
    result = subprocess.run(command, cwd=REPO_ROOT, env=childenv.child_environ())
    if result.returncode != 0:
        raise MainJobError(f"asv {args[0]} exited with {result.returncode}")


def ensure_local_repo(path, releases):
    """Reuse the local repository if it holds these releases, else build it anew."""
    if path.exists():
        tags = subprocess.run(["git", "-C", str(path), "tag"], capture_output=True,
                              text=True).stdout.split()
        if sorted(tags) == sorted(f"v{v}" for v in releases):
            return
        raise MainJobError(
            f"{path} holds releases {tags}, not {list(releases)}; remove it to rebuild"
        )
    localrepo.build_local_pyhf_repo(path, releases, WORK_DIR / "sdists")


def mirror_history(source, dest):
    """A bare mirror of pyhf's history at ``dest`` (a bundle, clone or URL), fetched anew."""
    if (Path(dest) / "HEAD").exists():
        command = ["git", "-C", str(dest), "fetch", "--quiet", "--prune", "--force", str(source),
                   "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
    else:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        command = ["git", "clone", "--quiet", "--mirror", str(source), str(dest)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise MainJobError(f"cannot mirror pyhf's history from {source}: {result.stderr.strip()}")
    return Path(dest)


def resolve_revisions(repo, revisions):
    """Full commit hashes of ``revisions`` (tags, branches, hashes) in ``repo``."""
    hashes = []
    for revision in revisions:
        result = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet",
                                 f"{revision}^{{commit}}"], capture_output=True, text=True)
        if result.returncode != 0:
            raise MainJobError(f"{revision!r} is not a commit of the pyhf repository {repo}")
        hashes.append(result.stdout.strip())
    return hashes


def quick_suite():
    """asv ``--bench`` regexes of the quick suite, which the benchmark classes declare
    (``quick_params``, ``@quick``; benchmarks/support/suite.py): a representative slice of
    every workload, the main job's default and the pull-request workflow's selection."""
    return support_module("suite").quick_regexes(support_module("suite").suite_classes())


#: Samples per time_ benchmark in the main job without --full (benchmarks/support/sampling.py).
QUICK_SAMPLES = 3


#: Matches every benchmark and parameter combination that does not ask for a GPU.
NO_GPU_COMBINATIONS = r"^(?!.*'gpu')"


def bench_selection(user_regexes=(), gpu_present=False):
    """asv ``--bench`` regexes: the user's, without GPU combinations on a machine without one.

    asv matches them against ``name(param, ...)`` and runs what any of them
    matches; combinations left out are stored as n/a without starting a process
    each to find out there is no GPU.
    """
    if gpu_present:
        return list(user_regexes)
    if user_regexes:
        return [f"{NO_GPU_COMBINATIONS}(?=.*(?:{regex}))" for regex in user_regexes]
    return [NO_GPU_COMBINATIONS]


def benchmark_modules():
    """The suite's modules (``benchmarks/bench_*.py``), in name order."""
    return sorted(path.stem for path in (REPO_ROOT / "benchmarks").glob("bench_*.py"))


def run_plan(selection, by_module=False):
    """[(label, regexes)]: one asv run for the whole selection (``[]``: everything), or,
    by module, one per benchmark module holding the part of the selection in it."""
    if not by_module:
        return [("suite", list(selection))]
    return [(module, [rf"^(?={module}\.)(?=.*(?:{regex}))" for regex in selection] or [rf"^{module}\."])
            for module in benchmark_modules()]


def label_of(name, param_set):
    """asv's label of one parameter combination, the text ``--bench`` regexes are matched against."""
    return f"{name}({', '.join(param_set)})" if param_set else name


def is_selected(label, selection):
    """Whether asv ran ``label`` for ``--bench`` regexes ``selection`` (none: everything)."""
    return not selection or any(re.search(regex, label) for regex in selection)


#: The outcome of one benchmark and parameter combination in a results file.
MEASURED, SKIPPED, NOT_SELECTED, FAILED = "measured", "skipped (n/a)", "not selected in this run", "failed"
OUTCOMES = (MEASURED, SKIPPED, NOT_SELECTED, FAILED)


def outcome_of(value, label, selection):
    """asv stores both a skip and a combination it did not run as NaN: the selection tells them apart."""
    state = resultslib.state_of(value)
    if state == resultslib.SKIPPED and not is_selected(label, selection):
        return NOT_SELECTED
    return {resultslib.OK: MEASURED, resultslib.SKIPPED: SKIPPED, resultslib.FAILED: FAILED}[state]


def summary_rows(results_dir, machine, selection=()):
    """One row per commit, oldest first: {"commit": hash, outcome: count, ...}.

    ``selection``: the ``--bench`` regexes the run was asked for (empty: the whole suite),
    matched against each combination's label the way asv matches them.
    """
    from collections import Counter

    try:  # as asv's own reader: no folder is no results, an unreadable file is left out
        loaded = resultslib.load_machine(results_dir, machine, on_error=lambda *a: None)
    except resultslib.ResultsError:
        loaded = []
    rows = []
    for stored in sorted(loaded, key=lambda r: r.date):
        counts = Counter(outcome_of(m.value, m.label, selection) for m in stored.measurements.values())
        rows.append({"commit": stored.commit, **{o: counts.get(o, 0) for o in OUTCOMES}})
    return rows


def format_summary(rows, columns=OUTCOMES):
    """The rows as aligned text, one line per commit, one count per column."""
    return "\n".join("  " + row["commit"][:8] + "  "
                     + "  ".join(f"{row[column]:5d} {column}" for column in columns)
                     for row in rows)


def skip_reasons(results_dir, machine, selection=()):
    """{commit: Counter(reason)}: why the selected combinations that are n/a were skipped,
    as the benchmarks recorded it (results/<machine>/skips)."""
    from collections import Counter

    found = {}
    for commit, _, _, state, _, _, reason in resultslib.state_rows(
            results_dir, machine, lambda label: is_selected(label, selection)):
        if state == resultslib.SKIPPED:
            found.setdefault(commit, Counter())[reason or "no reason recorded"] += 1
    return found


def summarize(results_dir, machine, selection=()):
    """Counts of measured, skipped, not selected and failed combinations per commit, each
    commit followed by the reasons of its skips, most frequent first."""
    rows = summary_rows(results_dir, machine, selection)
    reasons = skip_reasons(results_dir, machine, selection)
    stacks = {}
    for record in resultslib.load_stacks(results_dir, machine, on_error=lambda *a: None).values():
        stacks.setdefault(record.commit, []).append(record.describe())
    lines = []
    for row in rows:
        lines.append(format_summary([row]))
        lines += [f"            stack: {text}" for text in sorted(set(stacks.get(row["commit"], [])))]
        for reason, count in sorted(reasons.get(row["commit"], {}).items(), key=lambda i: -i[1]):
            lines.append(f"            n/a x{count}: {reason}")
    return "\n".join(lines)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/main-job",
        description="Benchmark the last pyhf releases from PyPI on the CPU backends, "
        "publish the dashboard, and summarize.",
    )
    parser.add_argument("--pyhf", default=str(DEFAULT_BUNDLE) if DEFAULT_BUNDLE.is_file() else None,
                        metavar="BUNDLE|CLONE|URL",
                        help="pyhf's git history (default: ../shared/pyhf/pyhf-main.bundle when it "
                        "is there, else a repository built from the --releases sdists on PyPI)")
    parser.add_argument("--revisions", nargs="+", default=list(DEFAULT_REVISIONS),
                        help="with --pyhf: the commits to measure (default: v0.7.6 main)")
    parser.add_argument("--releases", nargs="+", default=list(DEFAULT_RELEASES),
                        help="without --pyhf: the PyPI releases to build a repository from")
    parser.add_argument("--mirror", default=settings.pallet_mirror(),
                        help="local pallet mirror (default: ../shared/pallets if present)")
    parser.add_argument("--matrix", help="requirement preset of scripts/asvconf, on the Python "
                        "asv.conf.json names (default: 'current', pyhf main's backends on the "
                        "newest Python here that pyhf supports)")
    parser.add_argument("--stack", metavar="FILE",
                        help="pin the stack: name==version lines (python==3.N for the Python); "
                        "packages it leaves out take their newest releases")
    parser.add_argument("--machine", help="asv machine name (default: this host's name)")
    parser.add_argument("--bench", action="append",
                        help="only benchmarks matching this regex (repeatable; default: the quick suite)")
    parser.add_argument("--all", action="store_true",
                        help="the whole suite (some 560 benchmark processes per commit on a CPU host) "
                        "instead of the quick suite")
    parser.add_argument("--full", action="store_true",
                        help="the suite's full sampling (default: 3 samples per time_ benchmark, "
                        "each sized to the spread target)")
    parser.add_argument("--by-module", action="store_true",
                        help="one asv run per benchmark module, each saved when it ends, so that a "
                        "long run (--all --full takes hours on a small CPU host) resumes after an "
                        "interruption with the module it was in; prints each module's wall time")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    mirror = args.mirror or (str(DEFAULT_MIRROR) if DEFAULT_MIRROR.is_dir() else None)
    if mirror:
        os.environ[settings.PALLET_MIRROR] = str(Path(mirror).resolve())
        print(f"Published pallets from the local mirror {mirror}")
    else:
        print("No pallet mirror: generated pallets only")
    try:
        if args.pyhf:
            pyhf_repo = mirror_history(args.pyhf, WORK_DIR / "pyhf-history.git")
            commits = resolve_revisions(pyhf_repo, args.revisions)
            print(f"pyhf's history from {args.pyhf}: {' '.join(args.revisions)}")
        else:
            pyhf_repo = WORK_DIR / "pyhf"
            ensure_local_repo(pyhf_repo, args.releases)
            commits = resolve_revisions(pyhf_repo, [f"v{v}" for v in args.releases])
        preset = args.matrix or "current"
        stack, python = stacklib.choose(
            asvconf.matrix_requirements(preset), args.stack, repo=pyhf_repo,
            python=asvconf.committed_python() if args.matrix else None)
        print(f"Stack: {stack.describe()} (from {stack.source})")
        os.environ.update(stacklib.path_env(python))  # asv finds python3.N on PATH
        derived = asvconf.derive_config(repo=pyhf_repo, matrix=preset, stack=stack,
                                        branches=BRANCHES if args.pyhf else None)
        localrepo.refresh_asv_clones(derived["env_dir"], pyhf_repo)
        hashfile = WORK_DIR / "commits.txt"
        hashfile.write_text("\n".join(commits) + "\n")
        config = asvconf.write_config(derived, WORK_DIR / "asv.json")
        machine = args.machine or asvconf_machine_name()
        run_asv(config, "machine", "--yes", "--machine", machine)
        # The benchmarks record why they skip (asv keeps no reason) and keep their utilization
        # series beside the results: asv tells them neither its results folder nor its machine.
        os.environ.update(resultslib.run_context_env(derived["results_dir"], machine))
        run_args = ["run", "--machine", machine, "--show-stderr", "--skip-existing"]
        if not args.full:
            os.environ.setdefault(settings.SAMPLES, str(QUICK_SAMPLES))
        selection = args.bench or ([] if args.all else quick_suite())
        if not (args.bench or args.all):
            os.environ[settings.QUICK_SUITE] = "1"
        gpu, run_status, walls = gpu_present(), 0, []
        for label, regexes in run_plan(selection, args.by_module):
            selected = bench_selection(regexes, gpu)
            os.environ[settings.SELECTION] = json.dumps(selected)
            bench_args = [arg for regex in selected for arg in ("--bench", regex)]
            command = [sys.executable, "-m", "asv", *run_args, *bench_args, f"HASHFILE:{hashfile}",
                       "--config", str(config)]
            print("$", " ".join(command[2:]), flush=True)
            started_run = time.perf_counter()
            # asv exits 2 when a benchmark fails; the summary below says which, so go on.
            run_status = subprocess.run(command, cwd=REPO_ROOT,
                                        env=childenv.child_environ()).returncode or run_status
            walls.append((label, time.perf_counter() - started_run))
        results_dir, html_dir = Path(derived["results_dir"]), Path(derived["html_dir"])
        utilization, report = publish(config, results_dir, html_dir, machine)
    except (MainJobError, localrepo.LocalRepoError, stacklib.StackError) as err:
        print(f"main-job: {err}", file=sys.stderr)
        return 2
    print(f"\nResults: {results_dir}/{machine}")
    # The user's selection: GPU combinations it names but a host without a GPU leaves out
    # (bench_selection) count as skipped, not as unselected.
    print(summarize(results_dir, machine, selection))
    print(f"Dashboard: {html_dir / 'index.html'} (serve it: python -m http.server -d {html_dir})")
    print(f"Backend report: {report}\nUtilization time series: {utilization}")
    if args.by_module:
        print("asv run wall time per module: " + ", ".join(f"{label} {wall:.0f} s" for label, wall in walls))
    print(f"Wall time: {time.perf_counter() - started:.0f} s")
    return 0 if run_status == 0 else 1


def publish(config, results_dir, html_dir, machine):
    """``asv publish``, then the project's pages and the offline libraries
    (dashboard.finish_dashboard). Returns the utilization and report index pages."""
    try:  # built aside and swapped in: a failure leaves the published site as it was
        utilization, report, _ = dashboard.publish_aside(config, results_dir, html_dir, machine,
                                                         cwd=REPO_ROOT)
    except (RuntimeError, OSError, ValueError) as err:
        raise MainJobError(f"publish: {err}") from None
    return utilization, report


def gpu_present():
    return support_module("backends").nvidia_gpu_count() > 0


def asvconf_machine_name():
    """This host's name with its GPU model, or "-cpu" (asv's machine.json has no GPU field)."""
    from .machines import propose_machine_name

    return propose_machine_name()


if __name__ == "__main__":
    sys.exit(main())
