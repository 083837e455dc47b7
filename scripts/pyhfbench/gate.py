"""The regression gate: did the new pyhf commits make anything slower, fatter, different or broken?

The findings, the rules and the configuration file: docs/gate.md. The rules are
``gate_rules.py``, the findings and their reports ``findings.py``.
"""

import argparse
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import inputs
from . import results as resultslib
from .findings import (DEFAULT_COMMIT_URL, EXIT_BROKEN,
                       REGRESSION_KINDS, Finding, Report, _summary, print_summary, write_reports)
from .gate_rules import GateError, Rules
from .results import FAILED, OK, SKIPPED

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPORT_DIR = REPO_ROOT / ".asv" / "reports"


def statistic_of(measurement, rule, statistic=None):
    if (statistic or rule.statistic) == "min" and measurement.samples:
        return min(measurement.samples)
    return measurement.value


def significance(before, after, p_threshold):
    """(significant, p-value or None): asv's test, Mann-Whitney U on the samples."""
    from asv import _stats

    if p_threshold is None:
        return True, None
    a, b = before.samples, after.samples
    if a and b:
        a = [x for x in a if not math.isnan(x)]
        b = [x for x in b if not math.isnan(x)]
        p_min = 1 / _stats.binom(len(a) + len(b), min(len(a), len(b)))
        if p_min < p_threshold:
            _, p = _stats.mann_whitney_u(a, b)
            return p < p_threshold, p
    sa, sb = before.stats or {}, after.stats or {}
    if all(s.get(k) is not None for s in (sa, sb) for k in ("ci_99_a", "ci_99_b")):
        return _stats.is_different(None, None, sa, sb, p_threshold), None
    # Nothing to test with (a single sample): the ratio alone decides.
    return True, None


def confirm_pair(before, after, rule):
    """Judge a side-by-side re-measurement of a time_ finding: (confirmed, ratio, p-value)."""
    b = statistic_of(before, rule, rule.confirm_statistic)
    a = statistic_of(after, rule, rule.confirm_statistic)
    ratio = a / b if b else math.inf
    significant, p = significance(before, after, rule.confirm_p_threshold)
    return ratio >= 1 + rule.threshold and significant, ratio, p


# --------------------------------------------------------------------------- evaluation


def order_commits(commit_results, branch_order=None):
    """Sort CommitResults oldest first: by date, and in branch order where it is known."""
    ordered = sorted(commit_results, key=lambda c: (c.date, c.commit))
    if branch_order:
        rank = {commit: i for i, commit in enumerate(branch_order)}
        on_branch = [c for c in ordered if c.commit in rank]
        slots = [i for i, c in enumerate(ordered) if c.commit in rank]
        for slot, commit in zip(slots, sorted(on_branch, key=lambda c: rank[c.commit])):
            ordered[slot] = commit
    return ordered


def _tracks():
    """benchmarks/support/tracks.py, the declarations' parser (the same code the suite uses)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.support import tracks

    return tracks


def display_unit(raw):
    """The unit proper of a benchmarks.json unit (a track's declaration stripped)."""
    declaration = _tracks().parse(raw)
    return declaration.unit if declaration else raw


#: A declaration's direction as the gate's track mode.
_MODE_OF_BETTER = {"higher": "lower_is_worse", "lower": "higher_is_worse"}


def measurement_worse(how, before, after):
    """(worse beyond the judgement's threshold and floor?, relative change) of a measurement."""
    higher_is_worse = how.mode == "higher_is_worse"
    worse = after > before if higher_is_worse else after < before
    change = abs(after - before) / abs(before) if before else math.inf
    return worse and change >= how.threshold and abs(after - before) >= how.floor, change


@dataclass(frozen=True)
class TrackJudgement:
    """How one track is judged: mode, and for measurements the relative and absolute floors."""

    mode: str
    threshold: float = None
    floor: float = 0.0
    deterministic: bool = False


class Gate:
    """Compares new commits with their history; collects findings and information."""

    def __init__(self, rules=None, bench=None, benchmarks_info=None, skip_reasons=None,
                 confirming=False):
        self.rules = rules or Rules()
        #: A paired confirmation follows: small slowdowns are candidates (Rule.candidate_threshold).
        self.confirming = confirming
        self.skip_reasons = skip_reasons or {}
        self.bench = [re.compile(b) for b in (bench or [])]
        self.info_of = benchmarks_info or {}
        self.findings = []
        self.info = []
        self.errors = []

    # helpers ------------------------------------------------------------
    def selected(self, label):
        return not self.bench or any(b.search(label) for b in self.bench)

    def raw_unit(self, benchmark):
        return self.info_of.get(benchmark, {}).get("unit")

    def unit(self, benchmark):
        """The unit proper, for reports (a track's declaration stripped)."""
        return display_unit(self.raw_unit(benchmark))

    def track_judgement(self, benchmark, rule):
        """The TrackJudgement of a track_, or None where it declares nothing and no rule says."""
        declaration = _tracks().parse(self.raw_unit(benchmark))
        mode = rule.track
        if mode is None and declaration is not None:
            mode = "result" if declaration.kind == "result" else _MODE_OF_BETTER[declaration.better]
        if mode is None:
            return None
        threshold, floor = rule.track_threshold, rule.track_floor
        deterministic = False
        if declaration is not None and declaration.kind == "measurement":
            threshold = declaration.threshold if threshold is None else threshold
            floor = declaration.floor if floor is None else floor
            deterministic = declaration.deterministic
        default = rule.count_threshold if deterministic else rule.threshold
        return TrackJudgement(mode, default if threshold is None else threshold,
                              floor or 0.0, deterministic)

    def undeclared(self, benchmark):
        message = (f"{benchmark} declares neither a result nor a measurement (unit "
                   f"{self.raw_unit(benchmark)!r}; see benchmarks/support/tracks.py) and no gate "
                   "rule sets its 'track': not judged")
        if message not in self.errors:
            self.errors.append(message)

    def param_dict(self, measurement):
        names = self.info_of.get(measurement.benchmark, {}).get("param_names") or [
            f"param{i + 1}" for i in range(len(measurement.params))]
        return {name: resultslib.unrepr(value) for name, value in zip(names, measurement.params)}

    def add(self, kind, commit, measurement=None, env_name=None, baseline=None, before=None,
            ratio=None, p_value=None, detail=""):
        item = Finding(
            kind=kind, commit=commit, env_name=env_name, baseline_commit=baseline,
            ratio=ratio, p_value=p_value, detail=detail,
        )
        if measurement is not None:
            unit = self.unit(measurement.benchmark)
            item.benchmark = measurement.benchmark
            item.params = self.param_dict(measurement)
            item.param_reprs = list(measurement.params)
            item.label = measurement.label
            item.before = _summary(before, unit)
            item.after = _summary(measurement, unit)
        (self.findings if item.is_regression else self.info).append(item)
        return item

    # the comparison -----------------------------------------------------
    def evaluate(self, series, new_commits, baseline_lookup=None):
        """Judge ``new_commits`` (hashes) against ``series`` (one machine and env, oldest first).

        ``baseline_lookup(commit, key)``, when given, replaces the history:
        it returns the (commit, Measurement) to compare with, or None.
        """
        position = {c.commit: i for i, c in enumerate(series)}
        self._series = {c.commit: c for c in series}
        self._grown = []  # (commit, env, count, base commit, ratio): more_instructions
        for commit in sorted(new_commits, key=lambda c: position.get(c, -1)):
            if commit not in position:
                continue
            i = position[commit]
            current = series[i]
            earlier = [c for c in reversed(series[:i]) if not c.build_failed]
            if current.build_failed:
                previous = earlier[0].commit if earlier else None
                self.add("build_failed", commit, env_name=current.env_name, baseline=previous,
                         detail="asv could not build or install this commit; "
                         "every benchmark is recorded as failed")
                continue
            for key in sorted(current.measurements):
                measurement = current.measurements[key]
                if not self.selected(measurement.label):
                    continue
                rule = self.rules.for_label(measurement.label)
                if rule.ignore or (measurement.kind == "track" and rule.track == "ignore"):
                    continue
                if measurement.kind == "track" and self.track_judgement(
                        measurement.benchmark, rule) is None:
                    self.undeclared(measurement.benchmark)
                    continue
                if baseline_lookup is not None:
                    found = baseline_lookup(commit, key)
                    history = [found] if found else []
                else:
                    history = [(c.commit, c.get(*key)) for c in earlier]
                    history = [(c, m) for c, m in history
                               if m is not None and m.version == measurement.version]
                self.judge(current, measurement, history, rule)
        for grown in self._grown:
            self.time_candidate(*grown)
        return self

    def time_candidate(self, commit, env, count, base_commit, count_ratio):
        """With a paired confirmation to follow, the time of a workload whose instruction count
        grew is a candidate, whatever asv's wall-time samples say: on a shared machine they
        come in modes (the same call measured 34 ms and 70 ms, by whether its vCPU was shared;
        docs/gate-lanes.md), and a baseline measured in the slow one hides a slowdown."""
        key = matching_time_key(count.benchmark, count.params,
                                self.info_of.get(count.benchmark, {}).get("param_names"))
        pair = [self._series[c].get(*key) if key and c in self._series else None
                for c in (base_commit, commit)]
        if not all(m is not None and m.state == OK for m in pair) or not self.selected(
                pair[1].label) or any(f.kind == "slower" and f.commit == commit and
                                      f.label == pair[1].label for f in self.findings):
            return
        rule = self.rules.for_label(pair[1].label)
        b, a = (statistic_of(m, rule) for m in pair)
        item = self.add("slower", commit, pair[1], env, base_commit, pair[0], a / b if b else None,
                        detail=f"candidate: its workload's instruction count grew "
                        f"x{count_ratio:.3f} (asv's {rule.statistic} x{a / b if b else 0:.2f}), "
                        "for the paired confirmation")
        item.candidate = True

    def judge(self, current, measurement, history, rule):
        commit, env = current.commit, current.env_name
        previous_commit, previous = history[0] if history else (None, None)
        good = [(c, m) for c, m in history if m.state == OK][: rule.window]
        state = measurement.state
        if state == FAILED:
            if previous is not None and previous.state == OK:
                self.add("newly_failing", commit, measurement, env, previous_commit, previous,
                         detail="measured at the previous commit, errors now "
                         "(see asv run --show-stderr for the traceback)")
            elif previous is not None and previous.state == FAILED:
                self.add("still_failing", commit, measurement, env, previous_commit, previous,
                         detail="failed at the previous commit too")
            else:
                self.add("failing", commit, measurement, env, previous_commit, previous,
                         detail="errors, with no earlier good measurement (new, or n/a before; "
                         "see asv run --show-stderr for the traceback)")
            return
        if state == SKIPPED:
            if previous is not None and previous.state == OK:
                why = resultslib.skip_reason_of(self.skip_reasons, commit, env, measurement)
                if why is not None and why.kind == resultslib.REMOVED:
                    self.add("removed", commit, measurement, env, previous_commit, previous,
                             detail=why.reason)
                else:
                    self.add("newly_skipped", commit, measurement, env, previous_commit,
                             previous, detail=f"n/a now: {why.reason}" if why else
                             "n/a now, and the benchmark recorded no reason")
            return
        if previous is not None and previous.state == FAILED:
            self.add("recovered", commit, measurement, env, previous_commit, previous)
        if not good:
            if previous is None:
                self.add("first_measurement", commit, measurement, env)
            return
        kind = measurement.kind
        if kind == "time":
            self.judge_time(commit, env, measurement, good, rule)
        elif kind in ("peakmem", "mem"):
            self.judge_memory(commit, env, measurement, good, rule)
        elif kind == "track":
            self.judge_track(commit, env, measurement, good, rule)

    def judge_time(self, commit, env, after, good, rule):
        # Rolling worst: the most lenient baseline of the window.
        base_commit, before = max(good, key=lambda item: statistic_of(item[1], rule))
        b, a = statistic_of(before, rule), statistic_of(after, rule)
        if not b or b <= 0:
            return
        ratio = a / b
        if ratio >= 1 + rule.threshold:
            significant, p = significance(before, after, rule.p_threshold)
            if significant:
                self.add("slower", commit, after, env, base_commit, before, ratio, p,
                         detail=f"{rule.statistic} x{ratio:.2f} >= x{1 + rule.threshold:.2f}")
                return
        candidate = min(rule.threshold, rule.candidate_threshold)
        if self.confirming and ratio >= 1 + candidate:
            _, p = significance(before, after, rule.p_threshold)
            item = self.add("slower", commit, after, env, base_commit, before, ratio, p,
                            detail=f"candidate: {rule.statistic} x{ratio:.2f} >= "
                            f"x{1 + candidate:.2f}, for the paired confirmation")
            item.candidate = True
            return
        if ratio >= 1 + rule.threshold:
            return
        best_commit, best = min(good, key=lambda item: statistic_of(item[1], rule))
        b = statistic_of(best, rule)
        if b and a / b <= 1 / (1 + rule.threshold):
            significant, p = significance(best, after, rule.p_threshold)
            if significant:
                self.add("faster", commit, after, env, best_commit, best, a / b, p)

    def judge_memory(self, commit, env, after, good, rule):
        base_commit, before = max(good, key=lambda item: item[1].value)
        b, a = before.value, after.value
        if not b or b <= 0:
            return
        ratio = a / b
        if ratio >= 1 + rule.mem_threshold and a - b >= rule.mem_min_bytes:
            self.add("more_memory", commit, after, env, base_commit, before, ratio,
                     detail=f"x{ratio:.2f} >= x{1 + rule.mem_threshold:.2f}")
        elif ratio <= 1 / (1 + rule.mem_threshold) and b - a >= rule.mem_min_bytes:
            self.add("less_memory", commit, after, env, base_commit, before, ratio)

    def judge_track(self, commit, env, after, good, rule):
        how = self.track_judgement(after.benchmark, rule)
        if how.mode == "result":
            base_commit, before = good[0]
            b, a = float(before.value), float(after.value)
            if abs(a - b) > rule.abs_tol + rule.rel_tol * abs(b):
                self.add("result_changed", commit, after, env, base_commit, before,
                         a / b if b else None,
                         detail=f"moved by {a - b:+.6g} (tolerance {rule.abs_tol:g} + "
                         f"{rule.rel_tol:g} x |before|)")
            return
        if how.deterministic and how.mode != "result":
            return self.judge_count(commit, env, after, good, how)
        # A measurement: against the most lenient of the window (rolling worst).
        pick = max if how.mode == "higher_is_worse" else min
        base_commit, before = pick(good, key=lambda item: float(item[1].value))
        b, a = float(before.value), float(after.value)
        worse, change = measurement_worse(how, b, a)
        if worse:
            self.add("worse", commit, after, env, base_commit, before, a / b if b else None,
                     detail=f"{how.mode.replace('_', ' ')}: changed by {change:.1%} "
                     f"(threshold {how.threshold:.0%}"
                     + (f", at least {how.floor:g}" if how.floor else "") + ")")


    def judge_count(self, commit, env, after, good, how):
        """A deterministic count against the last good one: no window, no noise to absorb."""
        base_commit, before = good[0]
        b, a = float(before.value), float(after.value)
        if not b:
            return
        ratio = a / b
        higher_is_worse = how.mode == "higher_is_worse"
        worse = ratio - 1 if higher_is_worse else 1 - ratio
        if abs(a - b) < how.floor or abs(worse) < how.threshold:
            return
        kind = "more_instructions" if worse > 0 else "fewer_instructions"
        item = self.add(kind, commit, after, env, base_commit, before, ratio,
                        detail=f"{before.value:,.0f} -> {after.value:,.0f} ({ratio - 1:+.2%}; "
                        f"threshold {how.threshold:.0%})")
        if self.confirming and kind == "more_instructions":
            self._grown.append((commit, env, after, base_commit, ratio))
        item.beside = self.time_beside(after, commit, base_commit)
        if item.beside:
            t = item.beside
            item.detail += (f"; time of the same workload ({t['benchmark'].rsplit('.', 1)[-1]}): "
                            + (f"x{t['ratio']:.3f}" if t.get("ratio") else "not measured at both"))
        else:
            item.detail += "; no matching time_ benchmark"

    def time_beside(self, measurement, commit, base_commit):
        """The matching time_ measurement of an instruction count, at both commits (or None)."""
        key = matching_time_key(measurement.benchmark, measurement.params,
                                self.info_of.get(measurement.benchmark, {}).get("param_names"))
        if key is None:
            return None
        series = getattr(self, "_series", {})
        found = {}
        for name, at in (("before", base_commit), ("after", commit)):
            results = series.get(at)
            m = results.get(*key) if results else None
            found[name] = m if m is not None and m.state == OK else None
        rule = self.rules.for_label(f"{key[0]}({', '.join(key[1])})")
        out = {"benchmark": key[0], "params": list(key[1]),
               "before": _summary(found["before"], "seconds"),
               "after": _summary(found["after"], "seconds"), "ratio": None}
        if found["before"] and found["after"]:
            b, a = statistic_of(found["before"], rule), statistic_of(found["after"], rule)
            out["ratio"] = a / b if b else None
        return out


def matching_time_key(benchmark, params, param_names):
    """(time_ benchmark, param reprs) of the workload an instruction count measures, or None."""
    if not benchmark or not benchmark.startswith("bench_instructions.") or not param_names:
        return None
    values = dict(zip(param_names, params))
    if "workload" not in values:
        return None
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.support.instruction_workloads import WORKLOADS

    match = WORKLOADS.get(resultslib.unrepr(values["workload"]))
    if match is None:
        return None
    time_benchmark, extra = match
    return time_benchmark, (values.get("backend"), values.get("device"), *map(repr, extra))


def spread(before_dir, after_dir, machine, commits=None, bench=None):
    """Run-to-run spread: the same commits measured twice (``after`` / ``before``), time_ only."""
    selected = [re.compile(b) for b in (bench or [])]
    before = {(c.env_name, c.commit): c for c in resultslib.load_machine(
        before_dir, machine, on_error=lambda *a: None)}
    rows = []
    for after in resultslib.load_machine(after_dir, machine, on_error=lambda *a: None):
        if commits is not None and after.commit not in commits:
            continue
        other = before.get((after.env_name, after.commit))
        if other is None:
            continue
        for key, ma in sorted(after.measurements.items()):
            mb = other.get(*key)
            if (ma.kind != "time" or mb is None or ma.state != OK or mb.state != OK
                    or (selected and not any(b.search(ma.label) for b in selected))):
                continue
            rows.append({
                "commit": after.commit, "label": ma.label,
                "before_median": mb.value, "after_median": ma.value,
                "median_ratio": ma.value / mb.value,
                "min_ratio": (min(ma.samples) / min(mb.samples)
                              if ma.samples and mb.samples else None),
            })
    med = [r["median_ratio"] for r in rows]
    mins = [r["min_ratio"] for r in rows if r["min_ratio"] is not None]
    rng = lambda xs: [round(min(xs), 3), round(max(xs), 3)] if xs else None
    return {"count": len(rows), "median_ratio_range": rng(med), "min_ratio_range": rng(mins),
            "rows": rows}


# --------------------------------------------------------------------------- driver


def git_first_parent(repo, branch):
    """Commits of ``branch`` oldest first, or None when ``repo`` is not a readable git repository."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-list", "--first-parent", branch],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return list(reversed(out.split()))


def git_subjects(repo, commits):
    subjects = {}
    for commit in commits:
        try:
            subjects[commit] = subprocess.run(
                ["git", "-C", str(repo), "log", "-1", "--format=%s", commit],
                capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return subjects


def resolve_commits(requested, known):
    """Full hashes for the requested (possibly abbreviated) commits; GateError if ambiguous."""
    resolved = []
    for name in requested:
        matches = sorted({c for c in known if c.startswith(name)})
        if len(matches) > 1:
            raise GateError(f"commit {name!r} is ambiguous: {', '.join(m[:12] for m in matches)}")
        resolved.append(matches[0] if matches else name)
    return resolved


def nothing_measured(loaded, commits, selected):
    """The commits (that built) at which no selected benchmark has a measurement."""
    empty = []
    for commit in commits:
        at_commit = [c for c in loaded if c.commit == commit]
        if any(c.build_failed for c in at_commit):
            continue  # reported as build_failed
        if not any(m.state == OK and selected(m.label)
                   for c in at_commit for m in c.measurements.values()):
            empty.append(commit)
    return empty


def annotate_stacks(items, stacks, before_env=None):
    """Set each finding's ``stack``: the Python and packages its two sides were measured with
    (``stacks``: results.load_stacks; ``before_env``: the baseline's environment, where it is
    another one)."""
    for item in items:
        after = stacks.get((item.commit, item.env_name))
        before = stacks.get((item.baseline_commit, before_env or item.env_name)) \
            if item.baseline_commit else None
        item.stack = {"before": before.shown() if before else None,
                      "after": after.shown() if after else None}


def run_gate(results_dir, machine=None, commits=None, last=1, repo=None, branch="main",
             bench=None, rules=None, report_dir=DEFAULT_REPORT_DIR, commit_url=DEFAULT_COMMIT_URL,
             baseline_results_dir=None, write=True, confirming=False, envs=None):
    """Load results, judge the commits, write the reports; return the Report.

    ``commits``: hashes (or prefixes) to judge; None judges the newest ``last``
    commits with results. ``baseline_results_dir``: compare each commit with
    the same commit's measurement there (a re-run) instead of with its history.
    ``confirming``: a paired confirmation follows, so small slowdowns are candidates.
    ``envs``: judge in these asv environments only (the nightly's stack for pyhf's commits;
    the upstream lane judges the others).
    """
    rules = rules or Rules()
    errors = []
    results_dir = Path(results_dir)
    if machine is None:
        found = resultslib.machines(results_dir)
        if len(found) != 1:
            raise GateError(f"{results_dir}: {'no machines' if not found else 'several machines: ' + ', '.join(found)}"
                            "; pass --machine")
        machine = found[0]
    loaded = resultslib.load_machine(
        results_dir, machine, on_error=lambda path, err: errors.append(str(err)))
    try:  # missing or unreadable, it would judge with no units, types or parameter names
        info = inputs.benchmarks_json(results_dir)
    except resultslib.ResultsError as err:
        errors.append(str(err))
        info = {}
    branch_order = git_first_parent(repo, branch) if repo else None

    by_env = {}
    for item in loaded:
        by_env.setdefault(item.env_name, []).append(item)
    if branch_order:
        # Baselines come from the branch's own history: a release on another branch
        # (v0.7.6 on release/v0.7.x) would otherwise slot in among main's commits by date.
        on_branch = set(branch_order) | set(commits or ())
        by_env = {env: [c for c in items if c.commit in on_branch]
                  for env, items in by_env.items()}
    if envs is not None:
        by_env = {env: items for env, items in by_env.items() if env in set(envs)}
    series_by_env = {env: order_commits(items, branch_order) for env, items in by_env.items()}
    all_ordered = order_commits(loaded, branch_order)
    known = [c.commit for c in all_ordered]

    if commits is None:
        unique = list(dict.fromkeys(known))
        new = unique[-last:] if last else []
    else:
        new = resolve_commits(commits, known)
    not_measured = [c for c in new if c not in set(known)]

    lookup = None
    if baseline_results_dir is not None:
        other = resultslib.load_machine(
            baseline_results_dir, machine, on_error=lambda path, err: errors.append(str(err)))
        other_index = {(c.env_name, c.commit): c for c in other}

    gate = Gate(rules, bench, info, resultslib.load_skip_reasons(results_dir, machine),
                confirming=confirming)
    for env, series in series_by_env.items():
        if baseline_results_dir is not None:
            def env_lookup(commit, key, env=env):
                found = other_index.get((env, commit))
                m = found.get(*key) if found else None
                return (commit, m) if m is not None else None
            lookup = env_lookup
        gate.evaluate(series, [c for c in new if c not in not_measured], lookup)
    errors += gate.errors
    annotate_stacks(gate.findings + gate.info, resultslib.load_stacks(
        results_dir, machine, on_error=lambda path, err: errors.append(str(err))))

    order = {c: i for i, c in enumerate(known)}
    gate.findings.sort(key=lambda f: (order.get(f.commit, -1), REGRESSION_KINDS.index(f.kind),
                                      f.benchmark or "", f.label or ""))
    report = Report(
        machine=machine, commits=new, findings=gate.findings, info=gate.info,
        not_measured=not_measured, errors=errors, rules=rules.describe(), commit_url=commit_url,
        subjects=git_subjects(repo, new) if repo else {},
        nothing_measured=nothing_measured(loaded, [c for c in new if c not in not_measured],
                                          gate.selected),
    )
    if write:
        write_reports(report, report_dir)
    return report


def build_parser():
    parser = argparse.ArgumentParser(
        prog="scripts/gate",
        description="Compare new pyhf commits with their last good measurements in asv results; "
        "write regressions.md and regressions.json. Exit 0 clean, 1 findings, 2 broken.",
    )
    parser.add_argument("--results-dir", default=str(REPO_ROOT / "results"),
                        help="asv results folder (default: results/)")
    parser.add_argument("--machine", help="asv machine name (default: the only one there)")
    parser.add_argument("--commits", nargs="+", metavar="HASH",
                        help="commits to judge (default: the newest --last commits with results)")
    parser.add_argument("--last", type=int, default=1,
                        help="judge the newest N commits with results (default: 1)")
    parser.add_argument("--repo", help="pyhf git repository, for branch order and commit subjects "
                        "(default: order by commit date)")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--bench", action="append", metavar="REGEX",
                        help="only benchmarks whose name(params) match (repeatable, as asv's)")
    parser.add_argument("--config", help="JSON file of per-benchmark thresholds (see module doc)")
    parser.add_argument("--threshold", type=float,
                        help="default time_ threshold, e.g. 0.5 flags x1.5 (overrides --config's)")
    parser.add_argument("--report-dir", default=str(DEFAULT_REPORT_DIR),
                        help="where regressions.md and regressions.json go (default: .asv/reports)")
    parser.add_argument("--commit-url", default=None,
                        help="prefix of commit links (default: asv.conf.json's show_commit_url)")
    parser.add_argument("--baseline-results-dir",
                        help="compare each commit with its own measurement in this results "
                        "folder (a re-run) instead of with its history")
    parser.add_argument("--quiet", action="store_true", help="no terminal table")
    return parser


def default_commit_url():
    try:
        from .asvconf import load_committed_config

        return load_committed_config().get("show_commit_url") or DEFAULT_COMMIT_URL
    except Exception:
        return DEFAULT_COMMIT_URL


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        rules = Rules.from_file(args.config) if args.config else Rules()
        if args.threshold is not None:
            rules = Rules(dict(rules.defaults, threshold=args.threshold),
                          [(p.pattern, v) for p, v in rules.overrides])
        report = run_gate(
            args.results_dir, args.machine, args.commits, args.last, args.repo, args.branch,
            args.bench, rules, args.report_dir, args.commit_url or default_commit_url(),
            args.baseline_results_dir,
        )
    except Exception as err:  # any failure means the gate could not judge: never "findings"
        known = isinstance(err, (GateError, resultslib.ResultsError))
        reason = str(err) if known else f"unexpected {type(err).__name__}: {err}"
        print(f"gate: {reason}", file=sys.stderr)
        if not known:
            import traceback

            traceback.print_exc()
        try:
            write_reports(Report(machine=args.machine or "?", commits=args.commits or [],
                                 findings=[], info=[], errors=[reason]), args.report_dir)
        except Exception as write_err:
            print(f"gate: could not write the report either: {write_err}", file=sys.stderr)
        return EXIT_BROKEN
    try:
        for error in report.errors:  # what broke it, first: an unreadable file is named here
            print(f"gate: {error}", file=sys.stderr)
        if not args.quiet:
            print_summary(report)
        print(f"gate: {report.status}; report in {Path(args.report_dir) / 'regressions.md'}")
    except BrokenPipeError:  # the reader left (| head): the judgement, written, stands
        pass
    return report.exit_code
