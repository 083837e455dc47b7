"""The sensitivity study's parts that need no nightly: the injection into pyhf's real
``Model.logpdf``, the calibration, and reading a night's gate report into lanes."""

import subprocess

from pyhfbench import gate, sensitivity as study


def injected_model(rate):
    """A stand-in Model around pyhf's own lines, with the study's substitutions applied."""
    text = ("import logging\n" + study.LOGGER + "class Model:\n    calls = 0\n"
            "    def make_pdf(self, pars):\n        Model.calls += 1\n        return self\n"
            "    def log_prob(self, data):\n        return 0.0\n"
            "    def logpdf(self, pars, data):\n        if True:\n" + study.LOGPDF_CALL
            + "        return result\n")
    for old, new in study.injection(rate)[study.PDF]:
        assert text.count(old) == 1
        text = text.replace(old, new)
    namespace = {}
    exec(compile(text, "pdf.py", "exec"), namespace)  # noqa: S102 - our own text
    return namespace["Model"]


def test_the_injection_evaluates_the_density_again_on_exactly_its_share_of_calls():
    for rate, extra in ((0.0287, 29), (0.25, 250), (1.0, 1000)):
        model = injected_model(rate)
        for _ in range(1000):
            model().logpdf([1.0], [2.0])
        assert model.calls - 1000 in (extra - 1, extra)


def test_the_injection_applies_to_pyhf_main(pyhf_history):
    text = subprocess.run(["git", "-C", str(pyhf_history), "show", f"main:{study.PDF}"],
                          capture_output=True, text=True, check=True).stdout
    for old, new in study.injection(0.1)[study.PDF]:
        assert text.count(old) == 1
        text = text.replace(old, new)
    compile(text, study.PDF, "exec")


def test_rates_come_from_the_measured_share():
    assert abs(study.rate_for("10", 0.8) - (0.10 + study.MARGIN) / 0.8) < 1e-12
    probe = {"level": "probe", "paired": {"ratio": 1.5}}
    assert study.level_rate("10", {"share": 0.8}, [probe]) == study.rate_for("10", 0.8)
    assert study.level_rate("10cpu", {"share": 0.8}, [probe]) == study.rate_for("10", 0.5)
    assert study.level_label("10cpu") == "10 % of CPU time"


def finding(kind, benchmark, commit, confirmation=None):
    return gate.Finding(kind, commit, benchmark, label=benchmark, ratio=1.1,
                        confirmation=confirmation).to_json()


def test_a_nights_report_read_into_lanes():
    paired = {"method": "paired", "ratio": 1.12, "ci_low": 1.05, "ci_high": 1.2, "confirmed": True}
    report = {"findings": [finding("more_instructions", study.COUNTS, "x"),
                           finding("slower", study.TIME, "x", paired),
                           finding("result_changed", "bench_other.X.track", "x")],
              "info": [finding("unconfirmed", study.TIME, "y", dict(paired, confirmed=False))]}
    x = study.lanes(report, "x")
    assert x["instruction_lane"] and x["paired_lane"] and x["paired"]["ratio"] == 1.12
    assert x["other_findings"] == ["result_changed bench_other.X.track"]
    y = study.lanes(report, "y")
    assert not y["instruction_lane"] and not y["paired_lane"]
    assert y["paired"]["confirmed"] is False


def test_the_table_counts_catches_and_false_findings():
    night = {"instruction_lane": False, "paired_lane": False, "wall_rule": False,
             "night_s": 90.0, "load": [2.0, 3.5]}
    nights = ([dict(night, level="probe")] + [dict(night, level="control")] * 5
              + [dict(night, level="2", instruction_lane=True)] * 4
              + [dict(night, level="2", instruction_lane=True, paired_lane=True, night_s=120.0)])
    calibration = {"2": {"instructions": 1.0231, "cpu": {"ratio": 1.019, "ci_low": 0.98,
                                                         "ci_high": 1.06}}}
    lines = study.table(nights, calibration).splitlines()
    rows = study.detail([dict(nights[-1], night=5, exit=1, instructions={"ratio": 1.0231},
                              asv_min_ratio=1.01, paired=None, lane_s=41.2)]).splitlines()
    assert rows[2] == ("| 2 | 5 | 1 | x1.0231 | x1.010 | not run | flagged | flagged | silent "
                       "| 120.0 | 41 | 2.0, 3.5 |")
    assert len(lines) == 4  # header, rule, control, 2 % (no probe row)
    assert "| control | — | — | 5 | 0/5 false findings | 0/5 false findings | 0/5 false" in lines[2]
    assert lines[3].startswith("| 2 % of instructions | x1.0231 | x1.019 (0.980 to 1.060) | 5 | 5/5 caught | "
                               "1/5 caught | 0/5 caught | 90.0 | 2.0 to 3.5 |")


def write_night(results_dir, commit, date, count, times, lane_s=33.0):
    """An asv results file of the study's two benchmarks, with samples and the lane's duration."""
    import datetime
    import json

    from asv import runner
    from asv.results import Results

    specs = {study.COUNTS: ("track", "instructions [lower is better, 2%, deterministic]",
                            study.COUNT_KEY[1], count, [count]),
             study.TIME: ("time", "seconds", study.TIME_KEY[1], sorted(times)[3], times)}
    folder = results_dir / study.MACHINE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "machine.json").write_text(json.dumps({"machine": study.MACHINE, "version": 1}))
    result = Results({"machine": study.MACHINE, "python": "3.11"}, {}, commit, date, "3.11",
                     "virtualenv-py3.11-numpy", {})
    known = {"version": 2}
    for name, (kind, unit, reprs, value, samples) in specs.items():
        known[name] = {"name": name, "type": kind, "unit": unit, "version": "1",
                       "param_names": ["backend", "device", "x"], "params": [[r] for r in reprs]}
        result.add_result(known[name], runner.BenchmarkResult(
            result=[value], samples=[samples], number=[1], errcode=0, stderr="", profile=None),
            started_at=datetime.datetime.now(datetime.timezone.utc), duration=1.0,
            record_samples=True)
    result.set_setup_cache_duration("bench_instructions:120", lane_s)
    result.save(str(results_dir))
    (results_dir / "benchmarks.json").write_text(json.dumps(known))


def test_a_night_read_from_a_fake_nightly(tmp_path, monkeypatch):
    import json

    from pyhfbench import localrepo

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(repo)], check=True)
    base = localrepo.add_commit(repo, "base", files={"a": "1"}, date=1_600_000_000)
    commit = localrepo.add_commit(repo, "slower", files={"a": "2"}, date=1_600_000_600)
    lab = study.Study(tmp_path / "work")
    lab.work.mkdir()
    lab.save(base=base, base_date=1_600_000_000)
    subprocess.run(["git", "clone", "--quiet", "--mirror", str(repo), str(lab.workdir / "pyhf.git")],
                   check=True)
    write_night(lab.results, base, 1_600_000_000_000, 1_000_000.0, [0.050 + i / 1e4 for i in range(7)])

    def nightly(publish=None):
        write_night(lab.results, commit, 1_600_000_600_000, 1_021_000.0,
                    [0.070 + i / 1e4 for i in range(7)])
        lab.reports.mkdir(exist_ok=True)
        (lab.reports / "regressions.json").write_text(json.dumps({"findings": [
            gate.Finding("more_instructions", commit, study.COUNTS, label="c").to_json()]}))
        return 1, 12.5, [1.0, 2.0]

    monkeypatch.setattr(lab, "commit", lambda *args: commit)
    monkeypatch.setattr(lab, "nightly", nightly)
    record = lab.night("2", 1, 0.03)
    assert record["instructions"]["ratio"] == 1.021 and record["instruction_lane"]
    assert not record["paired_lane"] and record["paired"] is None
    assert record["wall_rule"]  # x1.4 on the fastest samples, 7 against 7 apart: p < 0.002
    assert abs(record["asv_min_ratio"] - 1.4) < 1e-9 and record["lane_s"] == 33.0  # its setup_cache
    assert lab.nights() == [record] and record["night_s"] == 12.5
