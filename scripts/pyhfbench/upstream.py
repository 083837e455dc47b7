"""The upstream lane: one pyhf commit measured in two stacks, their differences as findings.

When the newest releases differ from the stack pyhf's commits are measured in, the
nightly measures main's tip in the new stack too (``Nightly.upstream_lane``) and
this module compares the two: the gate's own judgement (instruction counts, times,
result tracks, failures), with the stored measurement in the old stack as the
baseline. Every difference becomes a finding of kind ``upstream`` that names the
packages and both versions, never one against a pyhf commit.
"""

import dataclasses
import re

from . import gate as gatelib
from . import results as resultslib
from . import stack as stacklib
from .findings import TITLES, Finding


def _what(kind):
    return TITLES.get(kind, kind).split(" (")[0].lower()


def as_upstream(finding, changes):
    """``finding`` of the gate, comparing two stacks, as an ``upstream`` finding."""
    what = stacklib.describe_changes(changes)
    if finding.kind == "build_failed":  # its detail says what did not build
        detail = f"{what}: {finding.detail}"
    else:
        detail = f"{what}: {_what(finding.kind)}" + (f"; {finding.detail}" if finding.detail else "")
    return dataclasses.replace(
        finding, kind="upstream", detail=detail,
        upstream={"packages": [list(c) for c in changes], "change": finding.kind})


def compare(results_dir, machine, commit, old_env, new_env, changes, rules=None, bench=None,
            why_unbuilt=""):
    """(upstream findings, information) from ``commit`` in ``old_env`` to ``new_env``.

    ``changes``: [(package, old version, new version)] between the two stacks;
    ``why_unbuilt``: what to say where the new stack has no results (the log's error).
    """
    errors = []
    loaded = resultslib.load_machine(results_dir, machine,
                                     on_error=lambda path, err: errors.append(str(err)))
    index = {(c.commit, c.env_name): c for c in loaded}
    old, new = index.get((commit, old_env)), index.get((commit, new_env))
    stacks = resultslib.load_stacks(results_dir, machine, on_error=lambda *a: None)
    if new is None or new.build_failed:
        detail = ("pyhf could not be built or installed in the new stack"
                  if new is not None else "no results in the new stack")
        finding = Finding(kind="build_failed", commit=commit, env_name=new_env,
                          baseline_commit=commit,
                          detail=f"{detail}{': ' + why_unbuilt if why_unbuilt else ''}")
        found = [as_upstream(finding, changes)]
        gatelib.annotate_stacks(found, stacks, before_env=old_env)
        return found, []
    gate = gatelib.Gate(rules, bench, resultslib.load_benchmarks_json(results_dir),
                        resultslib.load_skip_reasons(results_dir, machine))

    def baseline(at, key):
        measurement = old.get(*key) if old is not None else None
        return (commit, measurement) if measurement is not None else None

    gate.evaluate([new], [commit], baseline)
    found = [as_upstream(f, changes) for f in gate.findings]
    info = [dataclasses.replace(f, detail=f"{stacklib.describe_changes(changes)}: {f.detail}"
                                if f.detail else stacklib.describe_changes(changes))
            for f in gate.info if f.kind != "first_measurement"]
    gatelib.annotate_stacks(found + info, stacks, before_env=old_env)
    return found, info


def one_package_at_a_time(current, candidate, findings, measure, results_dir, machine, commit,
                          old_env, rules=None):
    """Which change of several caused each finding: ``current`` with one package (group) of
    ``candidate`` at a time, measured by ``measure(stack, bench) -> env name or None`` on the
    findings' benchmarks alone; a finding the gate sees again there is that package's.

    Sets ``finding.upstream["cause"]`` and leads its detail with it; returns notes for the
    findings no single change reproduced (together only, or a stack pip cannot install)."""
    groups = stacklib.changed_groups(current, candidate)
    if len(groups) < 2 or not findings:
        return []
    labels = {f.label for f in findings if f.label}
    bench = [rf"^{re.escape(label)}$" for label in sorted(labels)]
    notes = []
    unexplained = {f.label for f in findings}
    for names, changes in groups:
        if not unexplained:
            break
        versions = current.versions
        python = current.python
        for name, _, new in changes:
            if name == "python":
                python = new
            elif new is None:
                versions.pop(name, None)
            else:
                versions[name] = new
        step = stacklib.Stack(python, tuple(sorted(versions.items())))
        env = measure(step, bench)
        if env is None:
            notes.append(f"{stacklib.describe_changes(changes)} alone could not be measured "
                         "(pip could not install it with the rest of the last stack)")
            continue
        again, _ = compare(results_dir, machine, commit, old_env, env, changes, rules, bench)
        seen = {f.label for f in again if f.upstream.get("change") != "build_failed"}
        for finding in findings:
            if finding.label in seen and finding.label in unexplained:
                finding.upstream["cause"] = [list(c) for c in changes]
                finding.detail = f"caused by {stacklib.describe_changes(changes)} alone; " \
                    + finding.detail
                unexplained.discard(finding.label)
    if unexplained:
        notes.append(f"{len(unexplained)} upstream finding(s) appear with no single package's "
                     "change alone: the packages' releases together cause them")
    return notes
