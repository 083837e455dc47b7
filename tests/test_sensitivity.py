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
    assert lines[3].startswith("| 2 % | x1.0231 | x1.019 (0.980 to 1.060) | 5 | 5/5 caught | "
                               "1/5 caught | 0/5 caught | 90.0 | 2.0 to 3.5 |")
