"""What the nightly does with the gate's findings before they count: measured again
(paired time, tracks at both commits), then explained (profile, bisection)."""

import re
import shutil
import traceback

from . import bisection, explain_report, paired
from . import explain as explainlib
from . import gate as gatelib
from . import results as resultslib
from .runtools import describe_exit, stamp

#: Paired confirmations of one night (about 20 s each for a 0.6 s call): the largest ratios
#: first; candidates beyond them are information, findings by the gate's own rule go to asv.
MAX_PAIRED_CONFIRMATIONS = 20
#: Slowdowns explained (profiled, bisected) in one night, the largest first.
MAX_EXPLAINED = 6


class Verdicts:
    """The confirmation and explanation steps of ``nightly.Nightly`` (which provides
    ``args``, ``log``, ``summary``, ``workdir``, ``mirror``, ``machine``, ``results_dir``,
    ``write_config`` and ``run_asv``)."""

    def confirm_findings(self, report, rules, configs, scratch):
        """What load alone can move is measured again before it counts: slowdowns in pairs
        (``confirm``), measurement tracks at both commits (``confirm_measurements``)."""
        slower = [f for f in report.findings if f.kind == "slower"]
        if slower:
            self.confirm(report, slower, rules, configs, scratch)
        worse = [f for f in report.findings if f.kind == "worse"]
        if worse:
            self.confirm_measurements(report, worse, rules)

    def explain(self, report, rules, configs, scratch):
        """For each slowdown (largest first, at most ``MAX_EXPLAINED``): where the cost went
        (``explain.py``) and, over a range of several commits, the first commit that shows it
        (``bisection.py``). Either may fail, saying why in the report; the night goes on."""
        slowdowns = sorted((f for f in report.findings if f.kind in explain_report.SLOWDOWNS),
                           key=lambda f: -explain_report.slowdown_ratio(f))
        installs = {}
        for f in slowdowns[:MAX_EXPLAINED]:
            try:
                env = paired.first_environment(f, configs)
            except paired.PairedError as err:
                f.explanation = {"error": str(err)}
                continue
            built = installs.setdefault(env.name, paired.Installs(env, self.mirror, scratch))
            self.log(f"explaining {f.label} at {f.commit[:8]} against {f.baseline_commit[:8]}: "
                     f"{self.args.explain_rounds} profiles a side, alternately")
            f.explanation = attempt(lambda: explainlib.explain_finding(
                f, env, built, self.mirror, report.commit_url, self.args.explain_rounds), self.log)
            if self.args.bisect:
                self.log(f"bisecting {f.baseline_commit[:8]}..{f.commit[:8]} on {f.label}")
                f.bisection = attempt(lambda: bisection.bisect_finding(
                    f, env, built, self.mirror, rules.for_label(f.label),
                    self.args.bisect_builds or None), self.log)
                if f.bisection and not f.bisection.get("error"):
                    self.log(f"  first shows it: {f.bisection['first_bad'][:8]} "
                             f"({f.bisection['measured']} measured, {f.bisection['builds']} "
                             f"builds, {f.bisection['seconds']:.0f} s)")

    def confirm(self, report, slower, rules, configs, scratch):
        """Time each flagged commit and its baseline again, alternately (A B B A ...); keep
        what repeats (``paired.py``). A pair the paired runner cannot measure (no asv
        environment or wheel here) falls back to asv's interleaved rounds, saying so."""
        fallback = []
        slower = sorted(slower, key=lambda f: -(f.ratio or 0))
        slower, over_budget = slower[:MAX_PAIRED_CONFIRMATIONS], slower[MAX_PAIRED_CONFIRMATIONS:]
        for f in over_budget:
            if f.candidate:  # below the gate's own rule: without a paired run, not a finding
                report.findings.remove(f)
                f.kind = "unconfirmed"
                f.detail += (f"; not confirmed: beyond the {MAX_PAIRED_CONFIRMATIONS} paired "
                             "confirmations of a night (largest ratios first)")
                report.info.append(f)
            else:
                fallback.append(f)
        for f in slower:
            rule = rules.for_label(f.label)
            self.log(f"confirming {f.label} at {f.commit[:8]} against "
                     f"{f.baseline_commit[:8]}: {rule.confirm_pairs} alternating pairs")
            try:
                verdict = confirm_paired(f, configs, self.mirror, scratch, rule)
            except paired.PairedError as err:
                self.log(f"paired confirmation of {f.label} not possible ({err}); "
                         "asv's interleaved rounds instead")
                f.detail += f"; paired confirmation not possible ({err})"
                fallback.append(f)
                continue
            apply_paired_verdict(report, f, verdict)
            self.log(f"  {paired.describe(verdict)}: "
                     f"{'confirmed' if verdict['confirmed'] else 'not confirmed'}")
        if fallback:
            self.confirm_with_asv(report, fallback, rules)

    def measure_again(self, findings, purpose, extra=()):
        """asv measures the findings' benchmarks again at their commits, interleaved, into a
        scratch folder: {commit: its results}, or None where that run failed (a broken night)."""
        scratch = self.workdir / f"{purpose}-{stamp()}"
        config = self.write_config(purpose, scratch)
        commits = sorted({c for f in findings for c in (f.baseline_commit, f.commit)})
        bench = ["^" + re.escape(label) + "$" for label in sorted({f.label for f in findings})]
        self.log(f"{purpose}: measuring {len(findings)} finding(s) again at {len(commits)} "
                 "commit(s), side by side")
        try:
            rc = self.run_asv(config, commits, scratch, bench, interleave=True, extra=extra)
            if rc not in (0, 2):
                self.log(f"{purpose} run failed ({rc}); findings kept unconfirmed")
                self.summary["broken"].append(f"the {purpose} asv run exited with {describe_exit(rc)}")
                return None
            return {c.commit: c for c in resultslib.load_machine(scratch, self.machine,
                                                                 on_error=lambda *a: None)}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def confirm_with_asv(self, report, slower, rules):
        """The fallback: asv re-measures the pairs in interleaved rounds (Mann-Whitney)."""
        again = self.measure_again(slower, "confirm",
                                   extra=["-a", f"rounds={self.args.confirm_rounds}"])
        for f in slower:
            pair = remeasured_pair(f, again)
            if pair is None:
                f.detail += "; confirmation could not measure the pair (kept)"
                continue
            mb, ma = pair
            rule = rules.for_label(f.label)
            confirmed, ratio, p = gatelib.confirm_pair(mb, ma, rule)
            f.confirmation = {"before": gatelib._summary(mb), "after": gatelib._summary(ma),
                              "ratio": ratio, "p_value": p, "confirmed": confirmed}
            shown = f"{rule.confirm_statistic} x{ratio:.2f}" + ("" if p is None else f", p={p:.2g}")
            if confirmed:
                f.detail += f"; confirmed side by side ({shown})"
            else:
                dismiss(report, f, f"NOT confirmed side by side ({shown}): noise")

    def confirm_measurements(self, report, worse, rules):
        """A measurement track (throughput, utilization, overhead) that got worse is measured
        again; it stays a finding only where the new values are worse again by its own rule.
        The stored baseline stands in where the finding compares a commit with itself
        (``--remeasure``)."""
        judge = gatelib.Gate(rules, benchmarks_info=resultslib.load_benchmarks_json(
            self.results_dir))
        again = self.measure_again(worse, "confirm-tracks")
        for f in worse:
            pair = remeasured_pair(f, again, same_commit_before=f.before)
            if pair is None:
                f.detail += "; confirmation could not measure it again (kept)"
                continue
            b, a = (float(m["value"] if isinstance(m, dict) else m.value) for m in pair)
            how = judge.track_judgement(f.benchmark, rules.for_label(f.label))
            still_worse, change = gatelib.measurement_worse(how, b, a)
            f.confirmation = {"before": b, "after": a, "ratio": a / b if b else None,
                              "confirmed": still_worse}
            shown = f"{b:.4g} -> {a:.4g}, {change:.1%}"
            if still_worse:
                f.detail += f"; confirmed when measured again ({shown})"
            else:
                dismiss(report, f, f"NOT confirmed when measured again ({shown}): noise")


def confirm_paired(finding, configs, mirror, scratch, rule):
    """The paired verdict of a finding, in the first configuration that has its environment."""
    env = paired.first_environment(finding, configs)
    return paired.confirm_finding(finding, env, mirror, scratch, rule)


def attempt(step, log):
    """``step()``, or ``{"error": why}``: an explanation or a bisection never breaks the night."""
    try:
        return step()
    except Exception as err:  # noqa: BLE001 - anything: a worker, git, pip, valgrind
        log.raw(traceback.format_exc())
        log(f"  failed: {type(err).__name__}: {err}")
        return {"error": f"{type(err).__name__}: {err}"[:600]}


def apply_paired_verdict(report, finding, verdict):
    """Record a paired verdict on a ``slower`` finding; an unconfirmed one becomes information."""
    finding.confirmation = dict(verdict, before=None, after=None, p_value=None)
    shown = paired.describe(verdict)
    if verdict["confirmed"]:
        finding.detail += f"; confirmed side by side ({shown})"
        return
    report.findings.remove(finding)
    finding.kind = "unconfirmed"
    finding.detail += (f"; NOT confirmed side by side ({shown}; needs the interval above 1 "
                       f"and reaching x{1 + verdict['threshold']:.2f}): noise or under the threshold")
    report.info.append(finding)


def remeasured_pair(finding, again, same_commit_before=None):
    """(before, after) of a finding measured again (``measure_again``), or None.

    ``same_commit_before``: the stored baseline to use where baseline and commit are one.
    """
    if not again:
        return None
    key = (finding.benchmark, tuple(finding.param_reprs))
    got = {c: again[c].get(*key) if c in again else None
           for c in (finding.baseline_commit, finding.commit)}
    after = got[finding.commit]
    before = (same_commit_before if finding.baseline_commit == finding.commit
              else got[finding.baseline_commit])
    if not (after and after.state == resultslib.OK and before):
        return None
    if not isinstance(before, dict) and before.state != resultslib.OK:
        return None
    return before, after


def dismiss(report, finding, why):
    """A finding its confirmation did not repeat becomes information."""
    report.findings.remove(finding)
    finding.kind = "unconfirmed"
    finding.detail += f"; {why}"
    report.info.append(finding)
