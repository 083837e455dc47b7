"""The gate reads the instruction-count lane (synthetic asv results, fast)."""

import json

import pytest

from benchmarks.support import tracks
from pyhfbench import findings, gate

MACHINE = "box"
ENV = "virtualenv-py3.11-numpy"
COUNT = "bench_instructions.ModelInstructions.track_instructions"
TIME = "bench_model.Logpdf.time_logpdf"
WORKLOAD = "logpdf sbottom/RegionB"
COUNT_PARAMS = [["'numpy'"], ["'cpu'"], [repr(WORKLOAD), "'fit sbottom/RegionB'"]]
TIME_PARAMS = [["'numpy'"], ["'cpu'"], ["'sbottom/RegionB'"]]
UNIT = tracks.Declaration("measurement", "instructions", "lower", 0.02, None, True).encoded


class Writer:
    def __init__(self, root):
        self.root = root
        self.date = 1_700_000_000_000
        (root / MACHINE).mkdir(parents=True)
        (root / MACHINE / "machine.json").write_text(json.dumps({"machine": MACHINE, "version": 1}))
        info = {
            COUNT: {"name": COUNT, "unit": UNIT, "param_names": ["backend", "device", "workload"],
                    "params": COUNT_PARAMS, "type": "track", "version": "1"},
            TIME: {"name": TIME, "unit": "seconds", "param_names": ["backend", "device", "likelihood"],
                   "params": TIME_PARAMS, "type": "time", "version": "1"},
            "version": 2,
        }
        (root / "benchmarks.json").write_text(json.dumps(info))

    def commit(self, name, counts, times=None):
        from asv.results import Results
        from asv.runner import BenchmarkResult

        commit = (name.encode().hex() + "0" * 40)[:40]
        self.date += 3_600_000
        result = Results({"machine": MACHINE, "python": "3.11"}, {}, commit, self.date, "3.11",
                         ENV, {})
        entries = [(COUNT, COUNT_PARAMS, list(counts), [None] * len(counts), [None] * len(counts))]
        if times is not None:
            entries.append((TIME, TIME_PARAMS, [sorted(times)[len(times) // 2]], [times], [1]))
        for bench, params, values, samples, number in entries:
            result.add_result({"name": bench, "params": params, "version": "1"},
                              BenchmarkResult(result=values, samples=samples,
                                              number=number, errcode=0, stderr="",
                                              profile=None),
                              duration=1.0, record_samples=True)
        result.save(str(self.root))
        return commit


@pytest.fixture
def writer(tmp_path):
    return Writer(tmp_path / "results")


def judge(writer, commit, tmp_path, **rules):
    return gate.run_gate(writer.root, MACHINE, commits=[commit], report_dir=tmp_path / "reports",
                         rules=gate.Rules(rules) if rules else None)


def test_no_op_commit_has_no_instruction_finding(writer, tmp_path):
    writer.commit("base", [5_626_612_071, 1_400_000_000], [0.62, 0.63, 0.61])
    # The same code measured again: counts repeat to a few hundred instructions.
    after = writer.commit("noop", [5_626_612_431, 1_399_999_870], [0.95, 1.2, 0.7])
    report = judge(writer, after, tmp_path)
    assert report.findings == [] and report.status == "clean"


def test_injected_instruction_increase_is_flagged_with_the_time_beside(writer, tmp_path):
    base = writer.commit("base", [5_626_612_071, 1_400_000_000], [0.62, 0.63, 0.61])
    after = writer.commit("slower", [5_626_612_071 * 1.021, 1_400_000_000], [0.64, 0.65, 0.63])
    report = judge(writer, after, tmp_path)
    [finding] = report.findings
    assert finding.kind == "more_instructions" and finding.baseline_commit == base
    assert finding.params["workload"] == WORKLOAD
    assert finding.before["value"] == 5_626_612_071
    assert finding.ratio == pytest.approx(1.021)
    assert finding.beside["benchmark"] == TIME
    assert finding.beside["ratio"] == pytest.approx(0.63 / 0.61)  # fastest samples
    assert "5,626,612,071 -> " in finding.detail and "+2.10%" in finding.detail
    markdown = (tmp_path / "reports" / "regressions.md").read_text()
    assert "More instructions" in markdown and "time_logpdf): x1.033" in markdown
    assert report.exit_code == findings.EXIT_FINDINGS


def test_growth_under_the_threshold_and_drops_are_not_regressions(writer, tmp_path):
    writer.commit("base", [1_000_000_000, 1_000_000_000])
    after = writer.commit("after", [1_019_000_000, 900_000_000])
    report = judge(writer, after, tmp_path)
    assert report.findings == []
    assert [f.kind for f in report.info] == ["fewer_instructions"]


def test_count_threshold_rule_overrides_the_default(writer, tmp_path):
    writer.commit("base", [1_000_000_000, 1_000_000_000])
    after = writer.commit("after", [1_006_000_000, 1_000_000_000])
    assert judge(writer, after, tmp_path).findings == []
    # track_threshold (per benchmark, as for any track) beats the declaration's 2 %.
    report = judge(writer, after, tmp_path, track_threshold=0.005)
    assert [f.kind for f in report.findings] == ["more_instructions"]


def test_compares_with_the_last_good_count_not_a_window(writer, tmp_path):
    writer.commit("a", [1_100_000_000, 1])
    writer.commit("b", [1_000_000_000, 1])
    after = writer.commit("c", [1_050_000_000, 1])
    report = judge(writer, after, tmp_path, window=3)
    assert [(f.kind, round(f.ratio, 3)) for f in report.findings] == [("more_instructions", 1.05)]


def test_finding_without_a_time_measurement_says_so(writer, tmp_path):
    writer.commit("base", [1_000_000_000, 1_000_000_000])
    after = writer.commit("after", [1_000_000_000, 1_100_000_000])
    [finding] = judge(writer, after, tmp_path).findings
    assert finding.params["workload"] == "fit sbottom/RegionB"
    assert finding.beside["benchmark"] == "bench_fit.MaximumLikelihoodFit.time_unconditional_fit"
    assert finding.beside["ratio"] is None and "not measured at both" in finding.detail


def test_with_a_confirmation_to_follow_small_slowdowns_are_candidates(writer, tmp_path):
    writer.commit("base", [1, 1], [0.610, 0.615, 0.620, 0.630])
    after = writer.commit("after", [1, 1], [0.66, 0.67, 0.68, 0.70])  # min x1.08
    alone = gate.run_gate(writer.root, MACHINE, commits=[after], report_dir=tmp_path / "r1")
    assert alone.findings == []  # the gate's own rule: x1.25 and significant
    confirming = gate.run_gate(writer.root, MACHINE, commits=[after], report_dir=tmp_path / "r2",
                               confirming=True)
    [candidate] = confirming.findings
    assert candidate.kind == "slower" and candidate.candidate
    assert "for the paired confirmation" in candidate.detail
    steady = writer.commit("steady", [1, 1], [0.67, 0.68, 0.69, 0.70])  # x1.01 on "after"
    assert gate.run_gate(writer.root, MACHINE, commits=[steady], report_dir=tmp_path / "r3",
                         confirming=True).findings == []


def test_grown_instructions_make_the_time_a_paired_candidate_whatever_asv_saw(writer, tmp_path):
    # The baseline's time was measured in the slow mode of a shared machine (x2).
    base = writer.commit("base", [5_626_612_071, 1_400_000_000], [1.24, 1.26, 1.25])
    after = writer.commit("slower", [5_626_612_071 * 1.12, 1_400_000_000], [0.69, 0.70, 0.71])
    report = gate.run_gate(writer.root, MACHINE, commits=[after], report_dir=tmp_path / "r",
                           confirming=True)
    kinds = sorted((f.kind, f.benchmark) for f in report.findings)
    assert kinds == [("more_instructions", COUNT), ("slower", TIME)]
    [slower] = [f for f in report.findings if f.kind == "slower"]
    assert slower.candidate and slower.baseline_commit == base and slower.ratio < 1
    assert "instruction count grew x1.120" in slower.detail
    # Without a confirmation to follow (today's rule alone), no candidate.
    assert [f.kind for f in judge(writer, after, tmp_path).findings] == ["more_instructions"]
