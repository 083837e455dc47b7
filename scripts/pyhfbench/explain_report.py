"""The words of regressions.md about slowdowns: one sentence per finding, then where the cost went.

``paragraph(report)`` is the top of ``regressions.md``: one sentence per
finding, e.g. "`b1c2d3e4` 'refactor: model evaluation' made
`pyhf.pdf.Model.logpdf` 31 % more expensive; time_hypotest (numpy, cpu, 10)
25 % slower". ``details(report, finding)`` is the explanation's table (own
and inclusive cost before and after, linked to pyhf's source at the commit),
the chain of inclusive costs down to the first pyhf function, and the
bisection. Markdown only: the workflow pastes the file into a GitHub issue.
"""

import math
from urllib.parse import quote

from .explain import growth

SLOWDOWNS = ("slower", "more_instructions")


def _seconds(value):
    from asv import util

    return util.human_value(value, "seconds") if value else "0"


def _delta(before, after):
    sign = "+" if after >= before else "-"
    return f"{sign}{_seconds(abs(after - before))}"


def _duration(seconds):
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _percent(fraction):
    return "new" if math.isinf(fraction) else f"{100 * fraction:+.0f} %"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def workload_text(finding):
    """``baseline hypotest 10 bins (numpy)`` or ``time_hypotest (numpy, cpu, 10)``."""
    params = dict(finding.params or {})
    if "workload" in params:
        return f"{params['workload']} ({params.get('backend', '')})"
    method = (finding.benchmark or "").rsplit(".", 1)[-1]
    return f"{method} ({', '.join(str(v) for v in params.values())})" if params else method


def slowdown_ratio(finding):
    """The paired confirmation's ratio where there is one, else the gate's."""
    return (finding.confirmation or {}).get("ratio") or finding.ratio or 1.0


def culprit(finding):
    """(commit, subject or None) that the sentence names: the bisection's first bad commit."""
    found = finding.bisection or {}
    if found.get("found"):
        return found["first_bad"], found.get("subject")
    return finding.commit, None


def _what(finding):
    ratio = slowdown_ratio(finding) - 1
    if finding.kind == "more_instructions":
        return f"{workload_text(finding)} {100 * ratio:.1f} % more instructions"
    return f"{workload_text(finding)} {100 * ratio:.0f} % slower"


def _top_function(finding):
    rows = (finding.explanation or {}).get("functions") or []
    return next((r for r in rows if r["pyhf"]), None)


def sentence(report, finding):
    """One sentence about one finding."""
    commit, subject = culprit(finding)
    subject = subject or report.subjects.get(commit)
    who = report.commit_link(commit) + (f" '{subject}'" if subject else "")
    if finding.kind not in SLOWDOWNS:
        what = finding.kind.replace("_", " ")
        return f"{who}: {what}, `{finding.benchmark or 'the build'}`" + (
            f" ({', '.join(str(v) for v in finding.params.values())})." if finding.params else ".")
    top = _top_function(finding)
    if top:
        change = growth(top["incl_before"], top["incl_after"])
        name = f"[`{top['function']}`]({top['url']})" if top.get("url") else f"`{top['function']}`"
        made = (f"made {name} {100 * change:.0f} % more expensive" if not math.isinf(change)
                else f"added {name} ({_seconds(top['incl_after'])} a call)")
        text = f"{who} {made}; {_what(finding)}"
    else:
        why = (finding.explanation or {}).get("error")
        text = f"{who} made {_what(finding)}" + (f" (not explained: {why})" if why else "")
    return text + _bisected_note(report, finding) + "."


def _bisected_note(report, finding):
    found = finding.bisection
    if not found or found.get("error"):
        return f" (not bisected: {found['error']})" if found else ""
    if found["found"]:
        return (f" (bisected in {found['range']} commits: {found['measured']} measured, "
                f"{found['builds']} builds, {_duration(found['seconds'])})")
    return (f" (somewhere after {report.commit_link(found['last_good'])} up to "
            f"{report.commit_link(found['first_bad'])}: the bound of {found['bound']} "
            "measurements was reached)")


def paragraph(report):
    """The top of regressions.md: one sentence per finding (no lines when there are none)."""
    if not report.findings:
        return []
    return ["**In short.** " + " ".join(sentence(report, f) for f in report.findings), ""]


def graph_link(report, finding):
    """The finding's graph on the published dashboard, the two commits highlighted (or None)."""
    if not report.dashboard_url or not finding.benchmark:
        return None
    names = list(finding.params)
    query = [("machine", report.machine)] + [
        (f"p-{name}", value) for name, value in zip(names, finding.param_reprs)]
    if finding.baseline_commit:
        query.append(("commits", f"{finding.baseline_commit[:8]}-{finding.commit[:8]}"))
    text = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in query)
    return f"{report.dashboard_url.rstrip('/')}/index.html#{finding.benchmark}?{text}"


def graph_note(report, finding):
    """A finding's note, led by the link to its graph where the dashboard's address is known."""
    link = graph_link(report, finding)
    return (f"[graph]({link}) " if link else "") + (finding.detail or "")


def details(report, finding):
    """Lines under a finding's table: where the cost went, and the bisection."""
    if finding.kind not in SLOWDOWNS or not (finding.explanation or finding.bisection):
        return []
    lines = [f"### Where the cost went: {workload_text(finding)}, "
             f"{report.range_link(finding.baseline_commit, finding.commit)}", ""]
    link = graph_link(report, finding)
    if link:
        lines += [f"On the dashboard: [the graph, both commits marked]({link}).", ""]
    lines += _explanation_lines(report, finding.explanation, finding.commit)
    lines += _bisection_lines(report, finding.bisection)
    return lines


def _explanation_lines(report, found, commit):
    if not found:
        return []
    if found.get("error"):
        return [f"Not explained: {found['error']}", ""]
    lines = [
        f"cProfile of one call on {found['clock']} time, {found['rounds']} profiles a commit "
        f"taken alternately, medians: {_seconds(found['total_before'])} before, "
        f"{_seconds(found['total_after'])} after (profiled; cProfile slows pure-Python code "
        f"more than compiled code). Ranked by the growth of the function's own cost; outside "
        f"pyhf, by package. Cost: {found['builds']} builds, {_duration(found['seconds'])}.", "",
        f"| function | source at {report.commit_link(commit)} | own before | own after | Δ own "
        "| inclusive before | inclusive after | Δ inclusive |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in found["functions"]:
        name = f"`{row['function']}`" if row["pyhf"] else (
            f"{row['function']} (package" + (f"; most in `{row['most']}`)" if row.get("most")
                                              else ")"))
        where = (f"[{row['source']}#L{row['line']}]({row['url']})" if row.get("url") else
                 row.get("source") or "—")
        lines.append("| " + " | ".join(_cell(x) for x in [
            name, where, _seconds(row["self_before"]), _seconds(row["self_after"]),
            _delta(row["self_before"], row["self_after"]), _seconds(row["incl_before"]),
            _seconds(row["incl_after"]),
            f"{_delta(row['incl_before'], row['incl_after'])} "
            f"({_percent(growth(row['incl_before'], row['incl_after']))})"]) + " |")
    lines.append("")
    if found.get("chain"):
        steps = " → ".join(f"`{s['function']}` {_seconds(s['incl_before'])} → "
                           f"{_seconds(s['incl_after'])}" for s in found["chain"])
        lines += [f"Inclusive chain, from the benchmark down: {steps}.", ""]
    return lines


def _bisection_lines(report, found):
    if not found:
        return []
    if found.get("error"):
        return [f"Not bisected: {found['error']}", ""]
    head = (f"first shows it at {report.commit_link(found['first_bad'])} "
            f"'{_cell(found['subject'])}' by `{_cell(found['author'])}`, {found['date']}"
            if found["found"] else
            f"not narrowed to one commit within the bound: after "
            f"{report.commit_link(found['last_good'])}, up to {report.commit_link(found['first_bad'])}")
    lines = [f"**Bisected** ({found['method']}, {found['range']} commits in the range, at most "
             f"{found['bound']} measured): {head}. Cost: {found['measured']} commits measured, "
             f"{found['builds']} new builds, {_duration(found['seconds'])}; "
             f"{_cell(found['criterion'])}.", "",
             "| commit | measured | shows it |", "| --- | --- | --- |"]
    lines += [f"| {report.commit_link(s['commit'])} | {_cell(s['shown'])} | "
              f"{'yes' if s['bad'] else 'no'} |" for s in found["steps"]]
    lines.append("")
    return lines
