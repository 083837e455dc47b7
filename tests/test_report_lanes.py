"""The report's table per counted workload: instructions, time, and which lane flagged what
(the gate's regressions.json), with a finding from each lane."""

import json

from pyhfbench import gate, report, report_lanes
from helpers.report_results import NAN, NEW, benchmark_spec, write_results

COUNTS = "bench_instructions.BaselineInstructions.track_instructions"
TIME = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"
WORKLOADS = ["baseline hypotest 1 bins", "baseline hypotest 10 bins"]
SPECS = {
    COUNTS: benchmark_spec(COUNTS, ["backend", "device", "workload"],
                           [["numpy", "jax"], ["cpu"], WORKLOADS], "track",
                           "instructions [lower is better, 2%, deterministic]"),
    TIME: benchmark_spec(TIME, ["backend", "device", "n_bins"], [["numpy"], ["cpu"], [1, 10]],
                         "time", "seconds"),
}


def finding(kind, benchmark, reprs, ratio, confirmation=None):
    return gate.Finding(kind, NEW, benchmark, param_reprs=reprs, ratio=ratio,
                        baseline_commit="b" * 40, confirmation=confirmation).to_json()


def test_a_finding_from_each_lane_shows_in_its_workload_row(tmp_path):
    results = tmp_path / "results"
    write_results(results, "box", NEW, 1_700_000_000_000, {
        COUNTS: {("numpy", "cpu", WORKLOADS[0]): 242_275_890.0,
                 ("numpy", "cpu", WORKLOADS[1]): 251_000_000.0,
                 ("jax", "cpu", WORKLOADS[0]): NAN, ("jax", "cpu", WORKLOADS[1]): NAN},
        TIME: {("numpy", "cpu", 1): 0.0312, ("numpy", "cpu", 10): 0.0468},
    }, SPECS)
    paired = {"method": "paired", "clock": "cpu", "pairs": 21, "ratio": 1.118, "ci_low": 1.06,
              "ci_high": 1.19, "confirmed": True}
    unconfirmed = dict(paired, ratio=1.01, ci_low=0.97, ci_high=1.05, confirmed=False)
    regressions = {"findings": [
        finding("more_instructions", COUNTS, ["'numpy'", "'cpu'", repr(WORKLOADS[1])], 1.0360),
        finding("slower", TIME, ["'numpy'", "'cpu'", "1"], 1.21, paired),
    ], "info": [
        finding("unconfirmed", TIME, ["'numpy'", "'cpu'", "10"], 1.07, unconfirmed),
        finding("slower", TIME, ["'numpy'", "'cpu'", "1"], 1.5) | {"commit": "c" * 40},
    ]}
    path = tmp_path / "regressions.json"
    path.write_text(json.dumps(regressions))
    built = report.build_report(results, tmp_path / "out", regressions=path)
    markdown = built["markdown"].read_text()
    section = markdown.split("### Instructions and time per workload", 1)[1].split("###")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in section.splitlines()
            if line.startswith("| baseline")}
    assert set(rows) == set(WORKLOADS)  # the n/a JAX rows are left out, and said so
    assert "2 n/a combinations" in section
    one, ten = rows[WORKLOADS[0]], rows[WORKLOADS[1]]
    assert "242,275,890" in one and "31.2 ms" in one and "`time_hypotest`" in one
    assert "**flagged** x1.21, confirmed by paired cpu time x1.118 [1.060, 1.190]" in one
    assert one.count("—") == 1  # its instruction lane: nothing
    assert "251,000,000" in ten and "46.8 ms" in ten
    assert "**flagged**: +3.60% instructions" in ten
    assert "candidate x1.07, not confirmed: paired cpu time x1.010" in ten
    html = built["index"].read_text()
    assert "Instructions and time per workload" in html and "<b>flagged</b>: +3.60%" in html
    # Without the gate's report the counts and times are there, the lane columns empty.
    plain = report.build_report(results, tmp_path / "plain")["markdown"].read_text()
    assert "No gate report was given" in plain and "242,275,890" in plain
    assert "flagged" not in plain


def test_lane_verdict_of_the_wall_time_rule_and_of_nothing():
    assert report_lanes.lane_verdict(None) == "—"
    assert report_lanes.lane_verdict([finding("slower", TIME, [], 1.4)]) == \
        "**flagged** x1.40, by the wall-time rule"
    assert report_lanes.lane_verdict([finding("fewer_instructions", COUNTS, [], 0.97)]) == \
        "fewer: -3.00% instructions"


def test_the_nightly_builds_the_report_again_with_its_gates_findings(tmp_path):
    from helpers.nightly_lab import make_nightly

    night = make_nightly(tmp_path)
    write_results(night.results_dir, night.machine, NEW, 1_700_000_000_000, {
        COUNTS: {("numpy", "cpu", WORKLOADS[1]): 251_000_000.0},
        TIME: {("numpy", "cpu", 10): 0.0468}}, SPECS)
    published = tmp_path / "html-versions" / "1"
    published.mkdir(parents=True)
    (published / "index.html").write_text("<html><body></body></html>")
    night.html_dir.symlink_to(published)
    night.report_dir.mkdir(parents=True)
    (night.report_dir / "regressions.json").write_text(json.dumps({"findings": [
        finding("more_instructions", COUNTS, ["'numpy'", "'cpu'", repr(WORKLOADS[1])], 1.05)]}))
    night.report_with_findings()
    assert "**flagged**: +5.00% instructions" in (published / "report" / "report.md").read_text()
    assert "report_without_findings" not in night.summary
