"""Every track_ declares what it is, and the gate judges it by that declaration (fast)."""

import json
import random

import pytest
from asv_runner.discovery import disc_benchmarks

from benchmarks.support import tracks
from pyhfbench import findings, gate, gate_rules
from helpers.gate_results import MACHINE, PARAM_NAMES, PARAMS, ResultsWriter

from conftest import REPO_ROOT

NAN = float("nan")


def suite_tracks():
    """{name: unit} of every track_ asv discovers in benchmarks/."""
    return {b.name: b.unit for b in disc_benchmarks(str(REPO_ROOT / "benchmarks"))
            if b.name.rsplit(".", 1)[-1].startswith("track_")}


def test_every_track_in_the_suite_declares_a_result_or_a_measurement():
    found = suite_tracks()
    assert len(found) > 20  # the discovery saw the suite
    undeclared = {name: unit for name, unit in found.items() if tracks.parse(unit) is None}
    assert not undeclared
    kinds = {name.rsplit(".", 1)[-1]: tracks.parse(unit).kind for name, unit in found.items()}
    assert kinds["track_cls_obs"] == kinds["track_twice_nll"] == tracks.RESULT
    assert kinds["track_toys_per_second"] == kinds["track_cpu_percent"] == tracks.MEASUREMENT


@pytest.mark.parametrize("declaration", [
    tracks.Declaration(tracks.RESULT, "CLs"),
    tracks.Declaration(tracks.MEASUREMENT, "toys/s", "higher"),
    tracks.Declaration(tracks.MEASUREMENT, "%", "lower", 0.5, 5.0),
    tracks.Declaration(tracks.MEASUREMENT, "bytes", "lower", 0.1, float(1 << 20)),
])
def test_a_declaration_survives_the_unit_string(declaration):
    assert tracks.parse(declaration.encoded) == declaration


def test_plain_units_are_undeclared_and_bad_declarations_are_refused():
    assert tracks.parse("CLs") is None and tracks.parse(None) is None
    assert tracks.parse("x [faster is better]") is None
    with pytest.raises(ValueError):
        tracks.measurement("x", better="faster")
    with pytest.raises(TypeError):
        tracks.result("CLs")(lambda self: 1.0)  # not a track_


# --------------------------------------------------------------------------- the gate

THROUGHPUT = "bench_toys.ToyBasedCLs.track_toys_per_second"
RSS = "bench_utilization.FitUtilization.track_peak_rss"
OVERHEAD = "bench_utilization.SamplerCost.track_sampler_overhead"
PLAIN = "bench_new.Something.track_plain"


def writer_with(tmp_path, units):
    writer = ResultsWriter(tmp_path / "results")
    path = writer.root / "benchmarks.json"
    info = json.loads(path.read_text())
    for name, unit in units.items():
        info[name] = {"name": name, "unit": unit, "param_names": PARAM_NAMES, "params": PARAMS,
                      "type": "track", "version": "1"}
    path.write_text(json.dumps(info))
    return writer


def judge(tmp_path, units, before, after, rules=None):
    writer = writer_with(tmp_path, units)
    writer.commit("a", {name: [value, NAN, NAN, NAN] for name, value in before.items()})
    new = writer.commit("b", {name: [value, NAN, NAN, NAN] for name, value in after.items()})
    return gate.run_gate(writer.root, MACHINE, commits=[new], rules=rules,
                         report_dir=tmp_path / "reports")


def found(report):
    return sorted((f.kind, f.benchmark.rsplit(".", 1)[-1]) for f in report.findings)


UNITS = {THROUGHPUT: "toys/s [higher is better]", RSS: "MiB [lower is better]",
         OVERHEAD: "% [lower is better, at least 5]"}


def test_measurements_that_move_within_noise_give_no_finding(tmp_path):
    report = judge(tmp_path, UNITS, {THROUGHPUT: 100.0, RSS: 500.0, OVERHEAD: 1.0},
                   {THROUGHPUT: 80.0, RSS: 610.0, OVERHEAD: 4.0})  # -20 %, +22 %, +300 % but 3 points
    assert report.exit_code == findings.EXIT_CLEAN and not report.findings and not report.errors


def test_measurements_that_get_better_by_far_give_no_finding(tmp_path):
    report = judge(tmp_path, UNITS, {THROUGHPUT: 100.0, RSS: 500.0, OVERHEAD: 10.0},
                   {THROUGHPUT: 300.0, RSS: 100.0, OVERHEAD: 0.5})
    assert report.exit_code == findings.EXIT_CLEAN and not report.findings


def test_measurements_that_get_worse_beyond_the_threshold_are_findings(tmp_path):
    report = judge(tmp_path, UNITS, {THROUGHPUT: 100.0, RSS: 500.0, OVERHEAD: 1.0},
                   {THROUGHPUT: 70.0, RSS: 700.0, OVERHEAD: 8.0})
    assert found(report) == [("worse", "track_peak_rss"), ("worse", "track_sampler_overhead"),
                             ("worse", "track_toys_per_second")]
    assert report.exit_code == findings.EXIT_FINDINGS
    rss = next(f for f in report.findings if f.benchmark == RSS)
    assert rss.after["unit"] == "MiB"  # reports show the unit, not the declaration


def test_a_declared_threshold_and_a_rules_file_override_the_default(tmp_path):
    units = {THROUGHPUT: "toys/s [higher is better, 50%]"}
    assert not judge(tmp_path / "a", units, {THROUGHPUT: 100.0}, {THROUGHPUT: 60.0}).findings
    rules = gate.Rules(overrides={"track_toys_per_second": {"track_threshold": 0.1}})
    report = judge(tmp_path / "b", units, {THROUGHPUT: 100.0}, {THROUGHPUT: 85.0}, rules)
    assert found(report) == [("worse", "track_toys_per_second")]


def test_a_result_is_still_judged_to_its_tolerance(tmp_path):
    units = {PLAIN: "CLs [result]"}
    assert not judge(tmp_path / "a", units, {PLAIN: 0.27}, {PLAIN: 0.27}).findings
    report = judge(tmp_path / "b", units, {PLAIN: 0.27}, {PLAIN: 0.2701})
    assert found(report) == [("result_changed", "track_plain")]


def test_an_undeclared_track_is_an_error_not_a_default(tmp_path):
    report = judge(tmp_path / "a", {PLAIN: "CLs"}, {PLAIN: 0.27}, {PLAIN: 0.27})
    assert report.exit_code == gate.EXIT_BROKEN
    assert any("track_plain declares neither" in e for e in report.errors)
    # A rules file may say what it is.
    rules = gate.Rules(overrides={"track_plain": {"track": "result"}})
    report = judge(tmp_path / "b", {PLAIN: "CLs"}, {PLAIN: 0.27}, {PLAIN: 0.27}, rules)
    assert report.exit_code == findings.EXIT_CLEAN


def test_the_whole_suite_on_an_unchanged_commit_gives_no_track_finding(tmp_path):
    """Every real track with its real declaration: results repeat exactly, measurements wander
    either way by up to 0.9 of their threshold (two nights of the same code): no finding."""
    units = suite_tracks()
    rng = random.Random(17)
    before = {name: rng.uniform(1e7, 1e8) for name in units}  # above every declared floor
    after = {}
    for name, value in before.items():
        declaration = tracks.parse(units[name])
        if declaration.kind == tracks.RESULT:
            after[name] = value
        else:
            limit = 0.9 * (declaration.threshold or gate_rules.Rule().threshold)
            after[name] = value * (1 + rng.uniform(-limit, limit))
    report = judge(tmp_path, units, before, after)
    assert not report.errors
    assert not report.findings
    assert report.exit_code == findings.EXIT_CLEAN
