"""The backend report's table of instructions and time per workload, with the gate's verdict
per lane."""

import json
import sys
from pathlib import Path

from .results import OK, SKIPPED, STATE_TEXT, state_of
from .results import unrepr as _unquote
from .report_data import REPO_ROOT, column_label, fmt_value, workload_label
from .report_render import Table


def load_findings(regressions, commit):
    """The gate's findings and information at ``commit``, keyed by (benchmark, combination).

    ``regressions``: the gate's ``regressions.json`` (a path or its loaded dict), or None.
    Returns None without one (or when it cannot be read)."""
    if regressions is None:
        return None
    try:
        data = regressions if isinstance(regressions, dict) else json.loads(
            Path(regressions).read_text())
    except (OSError, ValueError):
        return None
    found = {}
    for f in data.get("findings", []) + data.get("info", []):
        if f.get("commit") == commit and f.get("benchmark"):
            key = (f["benchmark"], tuple(_unquote(p) for p in f.get("param_reprs") or []))
            found.setdefault(key, []).append(f)
    return found


def lane_verdict(findings):
    """What one lane said about one benchmark combination, from the gate's findings."""
    said = []
    for f in findings or []:
        kind, ratio, conf = f["kind"], f.get("ratio") or float("nan"), f.get("confirmation") or {}
        if kind in ("more_instructions", "fewer_instructions"):
            said.append(f"{'**flagged**' if kind == 'more_instructions' else 'fewer'}: "
                        f"{ratio - 1:+.2%} instructions")
        elif kind in ("slower", "unconfirmed"):
            if conf.get("method") == "paired":
                how = (f"paired {conf['clock']} time x{conf['ratio']:.3f} "
                       f"[{conf['ci_low']:.3f}, {conf['ci_high']:.3f}]")
            elif conf:
                how = f"asv's interleaved rounds x{conf.get('ratio') or float('nan'):.2f}"
            else:
                how = "the wall-time rule"
            said.append(f"**flagged** x{ratio:.2f}, {'confirmed by ' if conf else 'by '}{how}"
                        if kind == "slower" else f"candidate x{ratio:.2f}, not confirmed: {how}")
        elif kind == "faster":
            said.append(f"faster x{ratio:.2f}")
    return "; ".join(said) or "—"


def lanes_section(report, anchor, findings=None):
    """Per counted workload: instructions, the matching time, and which lane flagged what."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.support.instruction_workloads import WORKLOADS

    blocks = [("h", 3, "Instructions and time per workload", f"{anchor}-lanes")]
    rows, not_counted = [], 0
    for name in sorted(n for n in report.benchmarks if n.endswith(".track_instructions")):
        bench = report.benchmarks[name]
        for combo, value in bench.values.items():
            key = (name, combo)
            if state_of(value) == SKIPPED and not (findings or {}).get(key):
                not_counted += 1
                continue
            column, workload = bench.column(combo), dict(zip(bench.param_names, combo))
            time_name, extra = WORKLOADS.get(workload.get("workload"), (None, ()))
            time_combo = (*column, *map(str, extra))
            time_bench = report.benchmarks.get(time_name)
            time_value = time_bench.values.get(time_combo) if time_bench else None
            rows.append([workload.get("workload", workload_label(bench.workload(combo))),
                         column_label(column),
                         f"{value:,.0f}" if state_of(value) == OK else STATE_TEXT[state_of(value)],
                         fmt_value(time_value, "seconds") if time_bench else "not run",
                         f"`{time_name.rsplit('.', 1)[-1]}`" if time_name else "",
                         lane_verdict((findings or {}).get(key)),
                         lane_verdict((findings or {}).get((time_name, time_combo)))])
    if not rows:
        blocks.append(("p", "No instruction counts at this commit (`bench_instructions`)."))
        return blocks
    blocks.append(("p", "The gate's two lanes for small regressions (docs/gate-lanes.md): the "
                        "instruction count of each workload's call under callgrind, and the "
                        "time of the same call (asv's median; the benchmark named) with what "
                        "the gate's time lane said (paired confirmation, or its wall-time rule)."
                        + ("" if findings is not None else " No gate report was given "
                           "(`scripts/report --regressions regressions.json`): the lane "
                           "columns are empty.")
                        + (f" {not_counted} n/a combinations (JAX, not selected) are left out."
                           if not_counted else "")))
    blocks.append(("table", Table(["workload", "backend/device", "instructions", "time",
                                   "time benchmark", "instruction lane", "time lane"],
                                  rows, numeric_from=2, numeric_to=4)))
    return blocks
