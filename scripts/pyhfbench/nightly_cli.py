"""``scripts/nightly``: the command line of the nightly run (``nightly.Nightly``)."""

import argparse
import contextlib
import signal
import sys
import traceback
from pathlib import Path

from . import asvconf
from . import explain as explainlib
from . import gate as gatelib
from . import results as resultslib
from .nightly import DEFAULT_REPO, DEFAULT_WORKDIR, EXIT_BROKEN, Nightly, credential_in_url
from .runtools import LockBusy, NightlyError, RunLock, atomic_write_json, utcnow


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
    p.add_argument("--expect-gpu", "--gpu", action="store_true",
                   help="this machine is meant to have an NVIDIA GPU: NVML trouble, no GPU, or a "
                   "framework that cannot reach it breaks the night (exit 2). Also implied by a "
                   "GPU model in the machine name and by GPU results stored under it")
    p.add_argument("--bench", action="append", metavar="REGEX",
                   help="only benchmarks whose name(params) match (repeatable; passed to asv and "
                   "to the gate; on a host without a GPU, GPU combinations are left out)")
    p.add_argument("--matrix", help="requirement preset of scripts/asvconf, on asv.conf.json's "
                   "Python (default: 'current', pyhf main's backends on the newest Python here "
                   "that pyhf supports, with the newest releases)")
    p.add_argument("--stack", metavar="FILE",
                   help="measure in this stack: name==version lines (python==3.N for the Python); "
                   "what it leaves out takes the newest release. Where it differs from the last "
                   "night's stack, main's tip is measured in both (the upstream lane)")
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
                   help="also benchmark the releases (v0.6.0 and later, on any branch) that have "
                   "no results, newest first, at most --max-tags")
    p.add_argument("--max-tags", type=int, default=8, help="with --backfill-tags (default 8)")
    p.add_argument("--backfill-main", type=int, default=0, metavar="N",
                   help="also benchmark a first history of the branch: N evenly spaced commits "
                   "since --backfill-since, the head, and each backend removal with the commit "
                   "before it")
    p.add_argument("--backfill-since", metavar="REV",
                   help="with --backfill-main (default: where release/v0.7.x left the branch)")
    p.add_argument("--legacy-matrix", default="legacy",
                   help="requirement preset for commits whose code calls np.product, removed "
                   "in NumPy 2 (default: legacy)")
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
                   help="force-push the html to the gh-pages branch of this git remote URL (no "
                   "credential in it: git's credential helper or --push-credential-file gives it)")
    p.add_argument("--push-credential-file", metavar="FILE",
                   help="for --push-html and --push-results: a git-credential-store file (a line "
                   "https://USER:TOKEN@HOST, mode 600) that git reads the credential from, so that "
                   "no token is on a command line or in the benchmarks' environment")
    p.add_argument("--gate-config", help="JSON file of per-benchmark gate thresholds")
    p.add_argument("--threshold", type=float, help="default time_ threshold of the gate")
    p.add_argument("--no-confirm", dest="confirm", action="store_false",
                   help="do not re-measure flagged slowdowns side by side")
    p.add_argument("--confirm-rounds", type=int, default=4, metavar="N",
                   help="asv rounds of the side-by-side confirmation, interleaved between the "
                   "two commits (default 4: twice asv's default, for more samples)")
    p.add_argument("--no-explain", dest="explain", action="store_false",
                   help="do not profile slowdowns (where the cost went) nor bisect them")
    p.add_argument("--explain-rounds", type=int, default=explainlib.DEFAULT_ROUNDS, metavar="N",
                   help="cProfile profiles per commit for the explanation, alternating "
                   f"(default {explainlib.DEFAULT_ROUNDS})")
    p.add_argument("--no-bisect", dest="bisect", action="store_false",
                   help="do not bisect a slowdown whose range holds several commits")
    p.add_argument("--bisect-builds", type=int, default=0, metavar="N",
                   help="measure at most N commits per bisection (default: ceil(log2(commits "
                   "in the range)) + 2)")
    p.add_argument("--dashboard-url", help="where the dashboard is published (gh-pages): "
                   "regressions.md then links each slowdown to its graph there")
    p.add_argument("--commit-url", help="prefix of commit links in the report")
    p.add_argument("--remeasure", type=int, default=0, metavar="N",
                   help="afterwards measure the newest N stored commits again and gate them "
                   "against the stored results (a noise check; report in <report-dir>/remeasure)")
    p.add_argument("--wait-lock", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run's lock (default: give up at once)")
    p.add_argument("--quiet-asv", action="store_true", help="asv's output to the log file only")
    return p


def record_failed_start(args, reason):
    """last-run.json (workdir and report dir) for a run that failed before it could start,
    under the workdir's lock: while another run holds it, its record is left alone."""
    try:
        lock = RunLock(Path(args.workdir) / "nightly.lock").__enter__()
    except (LockBusy, OSError):
        return
    try:
        summary = {"machine": args.machine, "started_at": utcnow().isoformat(timespec="seconds"),
                   "broken": [reason], "exit_status": EXIT_BROKEN}
        for folder in (args.workdir, args.report_dir):
            with contextlib.suppress(OSError):
                atomic_write_json(Path(folder) / "last-run.json", summary)
    finally:
        lock.release()


def on_signal_of(nightly):
    def on_signal(signum, frame):
        if nightly.child is not None and nightly.child.poll() is None:
            with contextlib.suppress(OSError):
                nightly.child.terminate()
        raise KeyboardInterrupt(f"signal {signum}")
    return on_signal


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for option, url in (("--push-html", args.push_html), ("--repo", args.repo)):
        if url and credential_in_url(url):
            parser.error(f"{option}: the URL carries a credential, which every process on this "
                         "machine could read from the command line; give it to git through a "
                         "credential helper or --push-credential-file instead")
    try:
        nightly = Nightly(args)
    except Exception as err:  # e.g. a GPU machine whose GPU NVML cannot reach
        reason = f"the run could not start: {type(err).__name__}: {err}"
        print(f"nightly: {reason}", file=sys.stderr)
        record_failed_start(args, reason)
        return EXIT_BROKEN
    try:  # the lock covers everything the night writes, its record (finish) included
        nightly.lock = nightly.take_lock()
    except LockBusy as err:  # another run's record is not this run's to overwrite
        print(f"nightly: {err}; this run wrote nothing", file=sys.stderr)
        nightly.discard_log()
        return EXIT_BROKEN
    except (NightlyError, OSError) as err:
        print(f"nightly: the lock could not be taken: {err}; this run wrote nothing",
              file=sys.stderr)
        nightly.discard_log()
        return EXIT_BROKEN
    try:
        return _run_locked(nightly)
    finally:
        nightly.lock.release()
        nightly.lock = None


def _run_locked(nightly):
    mirror = asvconf.select_pallet_mirror()
    nightly.log(f"pallets from the local mirror {mirror}" if mirror else
                "no pallet mirror: pallets are downloaded from HEPData by DOI")
    signal.signal(signal.SIGTERM, on_signal_of(nightly))
    error = None
    try:
        code = nightly.run()
    except (NightlyError, gatelib.GateError, resultslib.ResultsError) as err:
        code, error = EXIT_BROKEN, str(err)
        _say(f"nightly: {err}")
    except KeyboardInterrupt as err:
        code, error = EXIT_BROKEN, f"interrupted ({err})"
        _say(f"nightly: interrupted ({err}); the next run resumes")
    except Exception as err:  # a bug or an unforeseen failure: still a broken night, never "findings"
        code, error = EXIT_BROKEN, f"unexpected {type(err).__name__}: {err}"
        nightly.log.raw(traceback.format_exc())
        _say(f"nightly: unexpected {type(err).__name__}: {err}", traceback.format_exc())
    nightly.finish(code, error)  # the record, whether or not anybody reads stderr any more
    return code


def _say(*lines):
    """Lines to stderr; a reader that is gone (| head) does not keep the record unwritten."""
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        for line in lines:
            print(line.rstrip("\n"), file=sys.stderr)
