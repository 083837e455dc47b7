"""Which commit of a range made a slowdown: a bounded binary search on the flagged benchmark alone.

A finding compares a commit with its baseline, the last commit measured
before it; when the nightly measured only some of the new commits (more than
``--max-commits``, a backfill), several first-parent commits lie between the
two. ``bisect_finding`` searches them for the first one that shows the
slowdown, measuring only the flagged benchmark, at most ``bound`` commits
(default ``ceil(log2(N)) + 2`` for N commits in the range):

- an instruction finding on the deterministic count (``callgrind.count`` of
  the same workload, the commit's pyhf first on the path): the baseline and
  the flagged commit are counted again in this one-workload child (a count
  moves by up to 0.8 % with what ran before it in the process), then a commit
  is bad when its count grew by at least half the flagged growth;
- a time finding by a paired comparison against the baseline
  (``paired.alternate`` / ``decide``): a commit is bad when it is confirmed
  slower by at least half the flagged slowdown (the paired confirmation's
  ratio). The baseline and the flagged commit were measured by the
  confirmation already.

``search`` is the pure search (a ``measure`` returning bad or not), so it can
be tested without pyhf.
"""

import math
import subprocess
import time

from . import childenv, paired


def bound_for(n):
    """Commits measured at most for a range of ``n``: ceil(log2(n)) + 2."""
    return math.ceil(math.log2(n)) + 2 if n > 1 else 0


def first_parent_range(repo, baseline, commit):
    """The first-parent commits after ``baseline`` up to ``commit``, oldest first."""
    out = subprocess.run(["git", "-C", str(repo), "rev-list", "--first-parent", "--reverse",
                          f"{baseline}..{commit}"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def search(commits, is_bad, budget):
    """The first bad commit of ``commits`` (oldest first; the last is known bad, the commit before
    the first known good), measuring at most ``budget`` of them.

    Returns ``{"first_bad", "last_good", "found", "steps": [(commit, bad)]}``; ``found`` is False
    when the budget ran out (then the first bad one lies after ``last_good``, up to ``first_bad``).
    """
    low, high, steps = -1, len(commits) - 1, []
    while high - low > 1 and len(steps) < budget:
        middle = (low + high) // 2
        bad = bool(is_bad(commits[middle]))
        steps.append((commits[middle], bad))
        low, high = (low, middle) if bad else (middle, high)
    return {"first_bad": commits[high], "last_good": commits[low] if low >= 0 else None,
            "found": high - low == 1, "steps": steps}


class CountMeasure:
    """Bad: the workload's instruction count grew by at least half the flagged growth."""

    method = "instruction count (callgrind)"
    reference_measurements = 2  # the baseline and the flagged commit, counted again here

    def __init__(self, finding, env, installs, count=None):
        from . import explain

        self.spec, self.env, self.installs = explain.workload_of(finding), env, installs
        self.count = count or paired_count
        self.values = {}
        self.base = self.value(finding.baseline_commit)
        self.top = self.value(finding.commit)
        if self.top <= self.base:
            raise paired.PairedError(
                f"counted again, {finding.commit[:8]} ({self.top:,}) shows no growth over "
                f"{finding.baseline_commit[:8]} ({self.base:,})")

    def value(self, commit):
        if commit not in self.values:
            self.values[commit] = self.count(self.spec, self.env, self.installs(commit))
        return self.values[commit]

    def __call__(self, commit):
        return self.value(commit) - self.base >= (self.top - self.base) / 2

    def shown(self, commit):
        value = self.values[commit]
        return f"{value:,} instructions ({value / self.base - 1:+.2%})"

    def criterion(self):
        return (f"counted again here: {self.base:,} at the baseline, {self.top:,} at the flagged "
                f"commit ({self.top / self.base - 1:+.2%}); a commit shows it from "
                f"{(self.base + self.top) / 2:,.0f}")


def paired_count(spec, env, install):
    """The instruction count of one workload with ``install``'s pyhf first on the path."""
    from .mainjob import support_module

    got = support_module("callgrind").count({"bisect": spec}, python=paired.environment_python(env),
                          env=childenv.child_environ({"PYTHONPATH": str(install)}),
                          inherit=False)["bisect"]
    if not isinstance(got, int):
        raise paired.PairedError(f"callgrind could not count {spec}: {got}")
    return got


class PairedMeasure:
    """Bad: confirmed slower than the baseline by at least half the flagged slowdown."""

    method = "paired time"
    reference_measurements = 0  # the confirmation measured the baseline and the flagged commit

    def __init__(self, finding, env, installs, rule):
        self.finding, self.env, self.installs, self.rule = finding, env, installs, rule
        flagged = (finding.confirmation or {}).get("ratio") or finding.ratio or 1.0
        self.threshold = max((flagged - 1) / 2, 0.01)
        self.baseline = paired.side_at(finding, env, installs(finding.baseline_commit),
                                       finding.baseline_commit)
        self.verdicts = {}

    def __call__(self, commit):
        side = paired.side_at(self.finding, self.env, self.installs(commit), commit)
        clock, samples = paired.alternate(self.baseline, side, self.rule.confirm_pairs,
                                          paired.device_of(self.finding))
        verdict = paired.decide(samples, clock, self.threshold, self.rule.confirm_confidence)
        self.verdicts[commit] = verdict
        return verdict["confirmed"]

    def shown(self, commit):
        return paired.describe(self.verdicts[commit])

    def criterion(self):
        return (f"a commit shows it when confirmed slower than the baseline by at least "
                f"x{1 + self.threshold:.3f} ({self.rule.confirm_pairs} pairs each)")


def commit_line(repo, commit):
    """(subject, "Name <email>", ISO date) of a commit."""
    out = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%s%n%an <%ae>%n%aI",
                          commit], capture_output=True, text=True)
    lines = out.stdout.splitlines() + ["", "", ""]
    return lines[0], lines[1], lines[2]


def bisect_finding(finding, env, installs, mirror, rule, bound=None, count=None):
    """Search a finding's range for its first bad commit; None when the range is one commit."""
    commits = first_parent_range(mirror, finding.baseline_commit, finding.commit)
    if len(commits) < 2:
        return None
    started, built = time.monotonic(), len(installs.built)
    limit = bound or bound_for(len(commits))
    if finding.kind == "more_instructions":
        measure = CountMeasure(finding, env, installs, count)
    else:
        measure = PairedMeasure(finding, env, installs, rule)
    found = search(commits, measure, max(limit - measure.reference_measurements, 1))
    subject, author, date = commit_line(mirror, found["first_bad"])
    return dict(found, steps=[{"commit": c, "bad": bad, "shown": measure.shown(c)}
                              for c, bad in found["steps"]],
                range=len(commits), bound=limit, method=measure.method,
                criterion=measure.criterion(), subject=subject,
                author=author, date=date,
                measured=len(found["steps"]) + measure.reference_measurements,
                builds=len(installs.built) - built, seconds=time.monotonic() - started)
