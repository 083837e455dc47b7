"""The regression gate on synthetic asv results (fast: no pyhf build, no asv run).

Results are written with asv's own ``Results`` class, so the files have
exactly the format ``asv run --record-samples`` writes.
"""

import json
import math
import re

import pytest

from helpers.gate_results import (ENV, MACHINE, NAN, PEAKMEM, TIME, TRACK, ResultsWriter,
                                  good_values, samples_around)
from pyhfbench import gate, gate_rules, results


@pytest.fixture
def writer(tmp_path):
    return ResultsWriter(tmp_path / "results")


def run(writer, commits, tmp_path, **kwargs):
    kwargs.setdefault("report_dir", tmp_path / "reports")
    return gate.run_gate(writer.root, MACHINE, commits=commits, **kwargs)


def kinds(report):
    return sorted((f.kind, f.benchmark.rsplit(".", 1)[-1] if f.benchmark else None,
                   tuple(f.params.values())) for f in report.findings)


# --------------------------------------------------------------------------- reading results


def test_measurements_know_ok_skipped_failed_and_build_failure(writer):
    good = writer.commit("good", good_values())
    broken = writer.commit("broken", good_values(), build_failed=True)
    loaded = {c.commit: c for c in results.load_machine(writer.root, MACHINE)}
    m = loaded[good].get(TIME, ("'numpy'", "1"))
    assert m.state == results.OK and len(m.samples) == 10 and m.kind == "time"
    assert m.label == f"{TIME}('numpy', 1)"
    assert loaded[good].get(TIME, ("'pytorch'", "1")).state == results.SKIPPED
    assert not loaded[good].build_failed
    assert loaded[broken].build_failed
    assert loaded[broken].get(TIME, ("'numpy'", "1")).state == results.FAILED


def test_corrupt_result_file_is_reported_not_fatal(writer, tmp_path):
    writer.commit("a", good_values())
    (writer.root / MACHINE / "deadbeef-env.json").write_text('{"commit_hash": "dead')
    errors = []
    loaded = results.load_machine(writer.root, MACHINE, on_error=lambda p, e: errors.append(p))
    assert len(loaded) == 1 and len(errors) == 1
    with pytest.raises(results.ResultsError):
        results.load_machine(writer.root, MACHINE)


# --------------------------------------------------------------------------- findings


def test_nothing_changed_gives_no_findings_and_exit_0(writer, tmp_path):
    writer.commit("base", good_values(seed=0))
    new = writer.commit("noop", good_values(seed=10))
    report = run(writer, [new], tmp_path)
    assert report.findings == [] and report.exit_code == 0
    assert (tmp_path / "reports" / "regressions.md").read_text().startswith(
        f"# pyhf benchmarks on `{MACHINE}`: no findings")


def test_slowdown_is_flagged_in_exactly_the_touched_benchmark(writer, tmp_path):
    writer.commit("base", good_values())
    slow = writer.commit("slow", good_values(time_center=(0.020, 0.050), seed=3))
    report = run(writer, [slow], tmp_path)
    assert kinds(report) == [("slower", "time_hypotest", ("numpy", "1"))]
    (finding,) = report.findings
    assert finding.ratio == pytest.approx(2.0, rel=0.05)
    assert finding.p_value < 0.002
    assert finding.baseline_commit == writer.commits[0] and finding.commit == slow
    assert report.exit_code == 1


def test_slowdown_below_the_threshold_is_not_flagged(writer, tmp_path):
    writer.commit("base", good_values())
    slightly = writer.commit("slightly", good_values(time_center=(0.0115, 0.050), seed=3))
    assert run(writer, [slightly], tmp_path, rules=gate.Rules({"threshold": 0.25})).findings == []
    report = run(writer, [slightly], tmp_path, rules=gate.Rules({"threshold": 0.10}))
    assert kinds(report) == [("slower", "time_hypotest", ("numpy", "1"))]


def test_a_large_ratio_that_is_not_significant_is_not_flagged(writer, tmp_path):
    # Two samples each: Mann-Whitney cannot reach p < 0.002, and the 99% intervals overlap.
    values = good_values()
    values[TIME][0] = [0.010, 0.012]
    writer.commit("base", values)
    values = good_values()
    values[TIME][0] = [0.011, 0.030]
    new = writer.commit("noisy", values)
    rules = gate.Rules({"threshold": 0.25, "statistic": "median"})
    assert run(writer, [new], tmp_path, rules=rules).findings == []


def test_statistic_min_ignores_load_spikes_that_move_the_median(writer, tmp_path):
    base = samples_around(0.010, seed=1)
    spiky = sorted(samples_around(0.010, seed=2))[:1] + [0.02 + i * 1e-4 for i in range(9)]
    values = good_values()
    values[TIME][0] = base
    writer.commit("base", values)
    values = good_values()
    values[TIME][0] = spiky
    new = writer.commit("spiky", values)
    median_rule = gate.Rules({"statistic": "median", "threshold": 0.25})
    assert kinds(run(writer, [new], tmp_path, rules=median_rule)) == [
        ("slower", "time_hypotest", ("numpy", "1"))]
    assert run(writer, [new], tmp_path, rules=gate.Rules({"statistic": "min"})).findings == []


def test_thresholds_are_configurable_per_benchmark(writer, tmp_path):
    writer.commit("base", good_values())
    slow = writer.commit("slow", good_values(time_center=(0.015, 0.075), seed=3))
    rules = gate.Rules({"threshold": 0.25},
                       {r"time_hypotest\(.*, 10\)": {"threshold": 1.0}})
    assert kinds(run(writer, [slow], tmp_path, rules=rules)) == [
        ("slower", "time_hypotest", ("numpy", "1"))]
    ignored = gate.Rules({"threshold": 0.25}, {"time_hypotest": {"ignore": True}})
    assert run(writer, [slow], tmp_path, rules=ignored).findings == []


def test_rolling_window_compares_with_the_most_lenient_recent_baseline(writer, tmp_path):
    writer.commit("slowish", good_values(time_center=(0.014, 0.050), seed=1))
    writer.commit("fast-outlier", good_values(time_center=(0.010, 0.050), seed=2))
    new = writer.commit("new", good_values(time_center=(0.014, 0.050), seed=3))
    rules = gate.Rules({"threshold": 0.25})
    assert kinds(run(writer, [new], tmp_path, rules=rules)) == [
        ("slower", "time_hypotest", ("numpy", "1"))]
    windowed = gate.Rules({"threshold": 0.25, "window": 2})
    assert run(writer, [new], tmp_path, rules=windowed).findings == []


def test_result_change_beyond_tolerance_is_flagged(writer, tmp_path):
    writer.commit("base", good_values(cls=(0.2752832590866769, 0.016668663850281207)))
    same = writer.commit("same", good_values(cls=(0.2752832590866770, 0.016668663850281207)))
    moved = writer.commit("moved", good_values(cls=(0.2737859339, 0.016668663850281207)))
    report = run(writer, [same, moved], tmp_path)
    assert kinds(report) == [("result_changed", "track_cls_obs", ("numpy", "1"))]
    assert report.findings[0].commit == moved
    loose = gate.Rules(overrides={"track_cls_obs": {"rel_tol": 0.01}})
    assert run(writer, [moved], tmp_path, rules=loose).findings == []


def test_more_memory_is_flagged(writer, tmp_path):
    writer.commit("base", good_values(mem=100e6))
    fat = writer.commit("fat", good_values(mem=150e6))
    report = run(writer, [fat], tmp_path)
    assert kinds(report) == [("more_memory", "peakmem_build", ())]
    assert "more memory" in (tmp_path / "reports" / "regressions.md").read_text().lower()


def test_newly_failing_benchmark_is_a_finding_and_keeps_failing_quietly(writer, tmp_path):
    writer.commit("base", good_values())
    values = good_values()
    values[TIME][1] = None
    crash = writer.commit("crash", values)
    still = writer.commit("still", values)
    report = run(writer, [crash, still], tmp_path)
    assert kinds(report) == [("newly_failing", "time_hypotest", ("numpy", "10"))]
    assert report.findings[0].commit == crash


def test_build_failure_is_reported_and_later_commits_compare_with_the_last_good(writer, tmp_path):
    base = writer.commit("base", good_values())
    broken = writer.commit("broken", good_values(), build_failed=True)
    fixed = writer.commit("fixed", good_values(seed=5))
    report = run(writer, [broken, fixed], tmp_path)
    assert [(f.kind, f.commit) for f in report.findings] == [("build_failed", broken)]
    assert report.findings[0].baseline_commit == base
    assert not [f for f in report.info if f.kind == "recovered"]
    text = (tmp_path / "reports" / "regressions.md").read_text()
    assert "Commit does not build" in text and broken[:8] in text


def record_skip(writer, commit, params, kind, reason, env=ENV):
    """What benchmarks/support/skips.py writes when a setup skips."""
    folder = results.skip_log_dir(writer.root, writer.machine)
    folder.mkdir(parents=True, exist_ok=True)
    line = {"commit": commit, "env_name": env,
            "benchmark_class": "bench_baseline.HypotestUncorrelatedBackground",
            "params": params, "kind": kind, "reason": reason}
    with open(folder / f"{commit[:8]}-{env}.jsonl", "a") as handle:
        handle.write(json.dumps(line) + "\n")


def skip_numpy_1_bin(writer):
    values = good_values()
    values[TIME][0] = NAN
    values[TRACK][0] = NAN
    return writer.commit("skipped", values)


def test_a_backend_pyhf_removed_is_information_not_a_regression(writer, tmp_path):
    writer.commit("base", good_values())
    removed = skip_numpy_1_bin(writer)
    record_skip(writer, removed, ["'numpy'", "1"], "removed", "pyhf removed the numpy backend")
    report = run(writer, [removed], tmp_path)
    assert report.findings == [] and report.exit_code == 0
    assert sorted(f.kind for f in report.info) == ["removed", "removed"]
    text = (tmp_path / "reports" / "regressions.md").read_text()
    assert "Information (not regressions)" in text and "pyhf removed the numpy backend" in text


@pytest.mark.parametrize("recorded", [True, False])
def test_a_benchmark_gone_n_a_for_any_other_reason_is_a_finding(writer, tmp_path, recorded):
    writer.commit("base", good_values())
    skipped = skip_numpy_1_bin(writer)
    if recorded:
        record_skip(writer, skipped, ["'numpy'", "1"], "unavailable",
                    "this pyhf calls np.product, which NumPy 2.4.6 removed")
    report = run(writer, [skipped], tmp_path)
    assert [f.kind for f in report.findings] == ["newly_skipped", "newly_skipped"]
    assert report.exit_code == 1
    expected = "np.product" if recorded else "recorded no reason"
    assert all(expected in f.detail for f in report.findings)


def test_a_commit_with_everything_n_a_is_a_broken_run(writer, tmp_path):
    writer.commit("base", good_values())
    nothing = writer.commit("nothing", {TIME: [NAN] * 4, TRACK: [NAN] * 4, PEAKMEM: [NAN]})
    for params in (["'numpy'", "1"], ["'numpy'", "10"]):
        record_skip(writer, nothing, params, "removed", "pyhf removed the numpy backend")
    report = run(writer, [nothing], tmp_path)
    assert report.nothing_measured == [nothing] and report.exit_code == 2
    text = (tmp_path / "reports" / "regressions.md").read_text()
    assert "the benchmark run broke" in text and "Nothing measured" in text


def test_a_benchmark_failing_with_no_earlier_measurement_is_a_finding_once(writer, tmp_path):
    values = good_values()
    values[TIME][2] = None  # pytorch at 1 bin: n/a before, errors now
    writer.commit("base", good_values())
    first = writer.commit("first", values)
    report = run(writer, [first], tmp_path)
    assert [f.kind for f in report.findings] == ["failing"]
    again = writer.commit("again", values)
    report = run(writer, [again], tmp_path)
    assert report.findings == [] and [f.kind for f in report.info] == ["still_failing"]


def test_a_changed_benchmark_version_starts_a_new_history(writer, tmp_path):
    writer.commit("base", good_values())
    from asv.results import Results

    new = writer.commit("new", good_values(time_center=(0.030, 0.050)))
    (path,) = (writer.root / MACHINE).glob(f"{new[:8]}-*.json")
    result = Results.load(str(path))
    result._benchmark_version[TIME] = "2"
    result.save(str(writer.root))
    report = run(writer, [new], tmp_path)
    assert report.findings == []
    assert any(f.kind == "first_measurement" for f in report.info)


def test_bench_regex_restricts_the_gate(writer, tmp_path):
    writer.commit("base", good_values())
    slow = writer.commit("slow", good_values(time_center=(0.020, 0.100), seed=3))
    report = run(writer, [slow], tmp_path, bench=[r"time_hypotest\('numpy', 10\)"])
    assert kinds(report) == [("slower", "time_hypotest", ("numpy", "10"))]


def test_environments_are_compared_separately(writer, tmp_path):
    writer.commit("base", good_values(), env="env-a")
    writer.commit("other-env", good_values(time_center=(0.030, 0.150)), env="env-b")
    new = writer.commit("new", good_values(seed=4), env="env-a")
    assert run(writer, [new], tmp_path).findings == []


def test_baseline_results_dir_compares_a_rerun_of_the_same_commits(tmp_path):
    first = ResultsWriter(tmp_path / "first")
    second = ResultsWriter(tmp_path / "second")
    for w, seed in ((first, 0), (second, 7)):
        w.commit("a", good_values(seed=seed))
        w.commit("b", good_values(seed=seed + 1))
    report = gate.run_gate(second.root, MACHINE, commits=second.commits,
                           baseline_results_dir=first.root, report_dir=tmp_path / "r")
    assert report.findings == [] and report.exit_code == 0
    assert not any(f.kind == "first_measurement" for f in report.info)
    spread = gate.spread(first.root, second.root, MACHINE)
    assert spread["count"] == 4
    low, high = spread["median_ratio_range"]
    assert 0.95 < low <= high < 1.05


# --------------------------------------------------------------------------- reports and CLI


def test_markdown_and_json_reports_have_what_a_maintainer_needs(writer, tmp_path):
    base = writer.commit("base", good_values())
    slow = writer.commit("slow", good_values(time_center=(0.020, 0.050), seed=3))
    run(writer, [slow], tmp_path, commit_url="https://github.com/scikit-hep/pyhf/commit/")
    text = (tmp_path / "reports" / "regressions.md").read_text()
    assert "| benchmark | parameters | before | after | ratio | p-value | commits | note |" in text
    assert "backend=numpy, n_bins=1" in text
    assert re.search(r"\| 10\.0\d*±[\d.]+ms, min 9\.\d+ms \(n=10\) \| "
                     r"(19\.9|20\.0)\d*±[\d.]+ms, min 19\.\d+ms \(n=10\) \|", text), text
    assert f"https://github.com/scikit-hep/pyhf/compare/{base}...{slow}" in text
    assert f"https://github.com/scikit-hep/pyhf/commit/{slow}" in text
    data = json.loads((tmp_path / "reports" / "regressions.json").read_text())
    assert data["status"] == "findings" and data["exit_code"] == 1
    (finding,) = data["findings"]
    assert finding["kind"] == "slower" and finding["params"] == {"backend": "numpy", "n_bins": "1"}
    assert finding["before"]["n"] == 10 and finding["after"]["q25"] < finding["after"]["q75"]
    assert math.isclose(finding["ratio"], 2.0, rel_tol=0.05)


def test_commit_without_results_means_the_run_broke(writer, tmp_path):
    writer.commit("base", good_values())
    report = run(writer, ["f" * 40], tmp_path)
    assert report.exit_code == 2 and report.not_measured == ["f" * 40]


def test_branch_order_wins_over_dates(writer):
    a = writer.commit("a", good_values())
    b = writer.commit("b", good_values())
    loaded = results.load_machine(writer.root, MACHINE)
    assert [c.commit for c in gate.order_commits(loaded)] == [a, b]
    assert [c.commit for c in gate.order_commits(loaded, [b, a])] == [b, a]


def test_rules_file_is_validated(tmp_path):
    path = tmp_path / "gate.json"
    path.write_text(json.dumps({"defaults": {"threshold": 0.3},
                                "benchmarks": {"time_.*": {"window": 3}}}))
    rules = gate.Rules.from_file(path)
    assert rules.for_label("x.time_y(1)").window == 3
    assert rules.for_label("x.time_y(1)").threshold == 0.3
    assert rules.for_label("x.track_y(1)").window == 1
    path.write_text(json.dumps({"defaults": {"treshold": 0.3}}))
    with pytest.raises(gate.GateError, match="treshold"):
        gate.Rules.from_file(path)


def test_cli_exit_codes(writer, tmp_path, capsys):
    writer.commit("base", good_values())
    slow = writer.commit("slow", good_values(time_center=(0.020, 0.050), seed=3))
    common = ["--results-dir", str(writer.root), "--report-dir", str(tmp_path / "out"), "--quiet"]
    assert gate.main(common + ["--commits", slow[:10]]) == 1
    assert gate.main(common + ["--commits", slow[:10], "--threshold", "2.0"]) == 0
    assert gate.main(common) == 1  # default: the newest commit
    assert gate.main(["--results-dir", str(tmp_path / "nowhere"), "--report-dir",
                      str(tmp_path / "out2"), "--quiet"]) == 2
    assert json.loads((tmp_path / "out2" / "regressions.json").read_text())["status"] == "broken"
    assert "gate:" in capsys.readouterr().err


def test_side_by_side_confirmation_needs_the_ratio_again_at_a_looser_p(tmp_path):
    from pyhfbench.results import Measurement

    def m(center, seed):
        samples = tuple(samples_around(center, n=20, spread=0.2, seed=seed))
        return Measurement(TIME, ("'numpy'", "1"), sorted(samples)[10], None, samples, "1")

    rule = gate_rules.Rule(threshold=0.25)
    confirmed, ratio, p = gate.confirm_pair(m(0.010, 1), m(0.016, 2), rule)
    assert confirmed and ratio > 1.25 and p < 0.05
    confirmed, ratio, _ = gate.confirm_pair(m(0.010, 1), m(0.0105, 2), rule)
    assert not confirmed and ratio < 1.25


def test_a_release_on_another_branch_is_never_a_baseline_of_main(writer, tmp_path, monkeypatch):
    # v0.7.6 sits on release/v0.7.x, dated between main's commits: a slow release must not
    # make main's next commit look faster, nor a fast one make it look slower.
    older = writer.commit("main-older", good_values(time_center=(0.010, 0.050)))
    writer.commit("release", good_values(time_center=(0.002, 0.010), seed=5))
    newer = writer.commit("main-newer", good_values(time_center=(0.010, 0.050), seed=7))
    monkeypatch.setattr(gate, "git_first_parent", lambda repo, branch: [older, newer])
    report = run(writer, [newer], tmp_path, repo=tmp_path)
    assert report.findings == [] and report.exit_code == 0
    compared = {f.baseline_commit for f in report.findings + report.info if f.baseline_commit}
    assert compared <= {older}
