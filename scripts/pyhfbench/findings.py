"""What the gate found: the kinds of finding, one ``Finding``, and the ``Report`` of a
night (``regressions.md``, ``regressions.json``, the terminal table)."""

import dataclasses
import datetime
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import explain_report
from . import results as resultslib
from .results import OK

DEFAULT_COMMIT_URL = "https://github.com/scikit-hep/pyhf/commit/"
EXIT_CLEAN, EXIT_FINDINGS, EXIT_BROKEN = 0, 1, 2

REGRESSION_KINDS = ("slower", "more_instructions", "more_memory", "worse", "result_changed", "newly_failing",
                    "failing", "newly_skipped", "build_failed", "upstream")
INFO_KINDS = ("removed", "still_failing", "recovered", "faster", "fewer_instructions",
              "less_memory",
              "first_measurement", "unconfirmed")

TITLES = {
    "slower": "Slower (time_)",
    "more_instructions": "More instructions (instruction-count lane, callgrind)",
    "more_memory": "More memory (peakmem_, mem_)",
    "worse": "Worse tracked value (track_, higher or lower is worse)",
    "result_changed": "Result changed (track_)",
    "newly_failing": "Newly failing",
    "failing": "Failing (no earlier good measurement)",
    "newly_skipped": "Newly n/a (measured before; not a removal by pyhf)",
    "build_failed": "Commit does not build",
    "upstream": "Upstream: a new release changed pyhf's speed, results or build (not a pyhf commit)",
    "not_measured": "Not measured (no results: the run broke)",
    "nothing_measured": "Nothing measured (every selected benchmark n/a or failed: the run broke)",
}


@dataclass
class Finding:
    kind: str
    commit: str
    benchmark: str = None
    params: dict = field(default_factory=dict)
    param_reprs: list = field(default_factory=list)  # as asv stores them, e.g. ["'numpy'", "10"]
    label: str = None
    env_name: str = None
    baseline_commit: str = None
    before: dict = None
    after: dict = None
    ratio: float = None
    p_value: float = None
    detail: str = ""
    confirmation: dict = None  # scripts/nightly's side-by-side re-measurement, if any
    beside: dict = None  # instruction findings: the time of the same workload, before and after
    candidate: bool = False  # slower only as a candidate for the paired confirmation
    explanation: dict = None  # scripts/nightly: where the cost went (explain.py)
    bisection: dict = None  # scripts/nightly: the range's first commit that shows it (bisection.py)
    stack: dict = None  # {"before": {...}, "after": {...}}: Python and package versions measured in
    upstream: dict = None  # kind upstream: {"packages": [[name, old, new]], "change": kind}

    @property
    def is_regression(self):
        return self.kind in REGRESSION_KINDS

    def to_json(self):
        return dataclasses.asdict(self)


def _summary(measurement, unit=None):
    """before/after as recorded: value, spread (q25, q75), sample count."""
    if measurement is None:
        return None
    out = {"state": measurement.state, "unit": unit}
    if measurement.state == OK:
        out["value"] = measurement.value
        quantiles = measurement.quantiles()
        if quantiles:
            out["q25"], out["q75"] = quantiles
        if measurement.samples:
            out["n"] = len(measurement.samples)
            out["min"] = min(measurement.samples)
    return out


@dataclass
class Report:
    machine: str
    commits: list
    findings: list
    info: list
    not_measured: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    nothing_measured: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # lines for the reader, e.g. releases not buildable
    rules: dict = None
    commit_url: str = DEFAULT_COMMIT_URL
    subjects: dict = field(default_factory=dict)
    dashboard_url: str = None  # the published dashboard: each slowdown links to its graph
    generated_at: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"))

    @property
    def exit_code(self):
        if self.errors or self.not_measured or self.nothing_measured:
            return EXIT_BROKEN
        return EXIT_FINDINGS if self.findings else EXIT_CLEAN

    @property
    def status(self):
        return {EXIT_CLEAN: "clean", EXIT_FINDINGS: "findings", EXIT_BROKEN: "broken"}[
            self.exit_code]

    def to_json(self):
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "machine": self.machine,
            "generated_at": self.generated_at,
            "commits": self.commits,
            "findings": [f.to_json() for f in self.findings],
            "info": [f.to_json() for f in self.info],
            "not_measured": self.not_measured,
            "nothing_measured": self.nothing_measured,
            "notes": self.notes,
            "errors": self.errors,
            "rules": self.rules,
            "commit_url": self.commit_url,
        }

    # markdown -------------------------------------------------------------
    def commit_link(self, commit):
        if not commit:
            return "—"
        short = commit[:8]
        return f"[`{short}`]({self.commit_url}{commit})" if self.commit_url else f"`{short}`"

    def range_link(self, before, after):
        if not before:
            return self.commit_link(after)
        text = f"`{before[:8]}...{after[:8]}`"
        match = re.match(r"(.*)/commit/?$", self.commit_url or "")
        if match:
            return f"[{text}]({match.group(1)}/compare/{before}...{after})"
        return text

    def to_markdown(self):
        lines = []
        n = len(self.findings)
        if self.exit_code == EXIT_BROKEN:
            headline = "the benchmark run broke"
        elif n:
            headline = f"{n} finding{'s' if n != 1 else ''}"
        else:
            headline = "no findings"
        lines.append(f"# pyhf benchmarks on `{self.machine}`: {headline}")
        lines.append("")
        lines += explain_report.paragraph(self)
        if self.commits:
            shown = ", ".join(
                self.commit_link(c) + (f" {self.subjects[c]}" if self.subjects.get(c) else "")
                for c in self.commits)
            lines.append(f"Commits checked ({len(self.commits)}): {shown}.")
        else:
            lines.append("No new commits to check.")
        lines.append("")
        lines.append(
            f"Generated {self.generated_at} by `scripts/gate`. Each commit is compared with the "
            "last good measurement of the same benchmark, parameters and machine. Before and "
            "after: median±half the interquartile range of asv's recorded samples, the fastest "
            "sample and the sample count; the ratio is of the statistic the rule uses (the "
            "fastest sample by default); the p-value is the Mann-Whitney U test's on the samples.")
        lines.append("")
        for error in self.errors:
            lines.append(f"> **Error:** {error}")
            lines.append("")
        lines += self._stacks_section()
        for key in ("not_measured", "nothing_measured"):
            if getattr(self, key):
                lines += [f"## {TITLES[key]}", "", "| commit |", "| --- |"]
                lines += [f"| {self.commit_link(commit)} |" for commit in getattr(self, key)]
                lines.append("")
        for kind in REGRESSION_KINDS:
            items = [f for f in self.findings if f.kind == kind]
            if items:
                lines += self._section(kind, items)
        if self.notes:
            lines += ["## Notes", ""] + [f"- {note}" for note in self.notes] + [""]
        if self.info:
            lines.append("## Information (not regressions)")
            lines.append("")
            lines.append("| what | benchmark | parameters | before | after | ratio | commits | note |")
            lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for f in self.info:
                lines.append("| " + " | ".join([
                    f.kind.replace("_", " "), _code(f.benchmark), _params_md(f.params),
                    _fmt(f.before), _fmt(f.after), "—" if f.ratio is None else f"{f.ratio:.3f}",
                    self.range_link(f.baseline_commit, f.commit),
                    self.with_stack(f, f.detail or "")]) + " |")
            lines.append("")
        if self.rules:
            lines.append("<details><summary>Gate rules</summary>")
            lines.append("")
            lines.append("```json")
            lines.append(json.dumps(self.rules, indent=2, sort_keys=True))
            lines.append("```")
            lines.append("</details>")
            lines.append("")
        return "\n".join(lines)

    def stack_labels(self):
        """{described stack: "A"}, in order of appearance over findings and information."""
        labels = {}
        for f in self.findings + self.info:
            for side in ("before", "after"):
                shown = (f.stack or {}).get(side)
                if shown:
                    labels.setdefault(resultslib.describe_shown(shown), chr(ord("A") + len(labels) % 26))
        return labels

    def stack_note(self, finding):
        """'stack A' or 'stacks A -> B': what the finding was measured with."""
        labels = self.stack_labels()
        sides = [labels.get(resultslib.describe_shown((finding.stack or {}).get(side)))
                 for side in ("before", "after") if (finding.stack or {}).get(side)]
        sides = list(dict.fromkeys(sides))
        if not sides:
            return "stack not recorded"
        return f"stack {sides[0]}" if len(sides) == 1 else f"stacks {' -> '.join(sides)}"

    def with_stack(self, finding, note):
        """``note`` led by the finding's stack, where one was recorded."""
        if not finding.stack:
            return note
        return f"{self.stack_note(finding)}. {note}" if note else self.stack_note(finding)

    def _stacks_section(self):
        labels = self.stack_labels()
        if not labels:
            return []
        lines = ["## Stacks measured in", ""]
        lines += [f"- **{label}**: {text}" for text, label in labels.items()]
        return lines + [""]

    def _section(self, kind, items):
        lines = [f"## {TITLES[kind]}: {len(items)}", ""]
        if kind == "upstream":
            lines.append("| what changed | benchmark | parameters | old stack | new stack | ratio "
                         "| commit | note |")
            lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for f in items:
                ratio = "—" if f.ratio is None else f"{f.ratio:.3f}"
                changed = ", ".join(f"{n} {b or 'none'} → {a or 'none'}"
                                    for n, b, a in (f.upstream or {}).get("packages", []))
                lines.append("| " + " | ".join([
                    changed or "—", _code(f.benchmark), _params_md(f.params), _fmt(f.before),
                    _fmt(f.after), ratio, self.commit_link(f.commit),
                    f"{self.stack_note(f)}: {f.detail}"]) + " |")
            lines.append("")
            return lines
        if kind == "build_failed":
            lines.append("| commit | last commit that built | note |")
            lines.append("| --- | --- | --- |")
            for f in items:
                lines.append(f"| {self.commit_link(f.commit)} | "
                             f"{self.commit_link(f.baseline_commit)} | {f.detail} "
                             f"({self.stack_note(f)}) |")
            lines.append("")
            return lines
        lines.append("| benchmark | parameters | before | after | ratio | p-value | commits | note |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for f in items:
            ratio = "—" if f.ratio is None else f"{f.ratio:.3f}"
            if kind == "result_changed" and f.before and f.after:
                ratio = f"{ratio} (Δ {f.after['value'] - f.before['value']:+.3g})"
            p = "—" if f.p_value is None else f"{f.p_value:.2g}"
            lines.append("| " + " | ".join([
                _code(f.benchmark), _params_md(f.params), _fmt(f.before), _fmt(f.after),
                ratio, p, self.range_link(f.baseline_commit, f.commit),
                self.with_stack(f, explain_report.graph_note(self, f))]) + " |")
        lines.append("")
        for f in items:
            lines += explain_report.details(self, f)
        return lines


def _code(text):
    return f"`{text}`" if text else "—"


def _params_md(params):
    return ", ".join(f"{k}={v}" for k, v in params.items()) if params else "—"


def _fmt(summary):
    """'14.6±0.4ms (n=10)' from a before/after summary."""
    if not summary:
        return "—"
    if summary.get("state") != OK:
        return {"failed": "failed", "skipped": "n/a (skipped)"}.get(summary.get("state"), "—")
    from asv import util

    value, unit = summary["value"], summary.get("unit")
    if unit in ("seconds", "bytes"):
        err = None
        if summary.get("q25") is not None:
            err = (summary["q75"] - summary["q25"]) / 2
        text = util.human_value(value, unit, err=err)
        if unit == "seconds" and summary.get("min") is not None and summary.get("n", 0) > 1:
            text += f", min {util.human_value(summary['min'], unit)}"
    else:
        text = f"{value:.10g}" + (f" {unit}" if unit and unit != "unit" else "")
    if summary.get("n"):
        text += f" (n={summary['n']})"
    return text


def write_reports(report, report_dir):
    report_dir = Path(report_dir)
    md = resultslib.atomic_write_text(report_dir / "regressions.md", report.to_markdown() + "\n")
    js = resultslib.atomic_write_text(
        report_dir / "regressions.json", json.dumps(report.to_json(), indent=2) + "\n")
    return md, js


def print_summary(report, file=None):
    """A terminal table of the findings (rich when it is installed)."""
    file = file or sys.stdout
    rows = [(f.kind, f.benchmark or "", _params_md(f.params), _fmt(f.before), _fmt(f.after),
             "" if f.ratio is None else f"{f.ratio:.3f}", (f.commit or "")[:8])
            for f in report.findings]
    title = f"gate on {report.machine}: {report.status} ({len(report.commits)} commits, " \
            f"{len(report.findings)} findings, {len(report.info)} notes)"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title, file=file)
        for row in rows:
            print("  " + " | ".join(row), file=file)
        return
    console = Console(file=file, width=160)
    table = title
    if rows:
        table = Table(title=title)
        for column in ("finding", "benchmark", "parameters", "before", "after", "ratio", "commit"):
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
    try:
        console.print(table)
    except SystemExit:  # rich's answer to a closed pipe (| head): exit status 1, "findings"
        raise BrokenPipeError("the reader of the gate's summary is gone") from None
