"""scripts/root-compare: the pyhf-versus-ROOT table of docs/root-vs-pyhf.md, its agreement columns and resume."""

import json

import pytest

from pyhfbench import root_compare

INFO = {"nproc": 2, "cpu": "test cpu", "python": "3.11", "load_at_start": 0.5, "threads": "1",
        "repeat": 3, "budget": 60.0}


def fit_row(engine, optimizer, bestfit, twice_nll, **extra):
    row = {"engine": engine, "optimizer": optimizer, "what": f"{engine} {optimizer}",
           "build": 0.2, "build_cold": 1.0, "fit_cold": 0.5, "fit": 0.4, "fit_repeats": 3,
           "bestfit": bestfit, "twice_nll": twice_nll, "load_after": 1.0}
    row.update(extra)
    return row


def test_rows_show_differences_to_pyhf_numpy_scipy_and_notes_say_what_is_missing():
    reference = fit_row("pyhf 0.7.6 numpy", "scipy", [1.0, 0.5], 10.0, hypotest=1.0,
                        hypotest_repeats=3, cls_obs=0.25, cls_exp=0.38, what="pyhf numpy scipy")
    root = fit_row("ROOT 6.40.00", "Minuit2", [1.01, 0.49], 20.0, twice_nll_pyhf=10.002,
                   hypotest=0.6, hypotest_repeats=1, cls_obs=0.2503, cls_exp=0.38,
                   nll_spread=1e-12)
    root["what"] = "ROOT"
    failed = fit_row("pyhf 0.7.6 jax", "minuit", [1.0, 0.5], 10.0,
                     hypotest_failed="FailedMinimization", what="pyhf jax minuit")
    skipped = {"skipped": "TensorFlow with Minuit: too slow", "what": "pyhf tensorflow minuit"}
    table = root_compare.markdown({"sbottom/RegionB": [root, reference, failed, skipped]}, INFO,
                                  "scripts/root-compare")
    root_line = next(line for line in table.splitlines() if "| ROOT 6.40.00 |" in line)
    # ROOT's best fit against the reference: largest parameter difference, pyhf's twice-NLL
    # at ROOT's best fit minus at its own, CLs differences.
    assert "| 1.0e-02 | +2.0e-03 | +3.0e-04 | 0 |" in root_line
    assert "0.60 |" in root_line and "1.00 cold" in root_line
    assert "| n/a |" in next(line for line in table.splitlines() if "pyhf 0.7.6 jax" in line)
    assert "- sbottom/RegionB, ROOT: 1 warm hypotest (time budget)" in table
    assert "- sbottom/RegionB, pyhf jax minuit: hypotest not measured: FailedMinimization" in table
    assert "- sbottom/RegionB, pyhf tensorflow minuit: not measured: TensorFlow with Minuit: too slow" in table
    # ROOT first, then pyhf by backend and optimizer, whatever order the rows were measured in.
    rows = [line for line in table.splitlines() if line.startswith("| sbottom/RegionB |")]
    assert [next(i for i, line in enumerate(rows) if marker in line) for marker in (
        "ROOT 6.40.00", "numpy | scipy", "jax | minuit", "pyhf tensorflow minuit")] == [0, 1, 2, 3]
    assert "ROOT NLL − pyhf NLL constant to 1.0e-12" in table
    assert "1-minute load average 1.0 to 1.0 after the measurements" in table


def test_a_pair_outside_the_quick_budget_is_a_skip_row_without_running_a_fit():
    row = root_compare.run_worker("generated/small", "tensorflow", "minuit", 1, "fit", timeout=120)
    assert "TensorFlow with Minuit" in row["skipped"]


def test_a_rerun_keeps_finished_rows_and_measures_only_the_rest(tmp_path, monkeypatch, capsys):
    saved = tmp_path / "compare.json"
    done = fit_row("pyhf 0.7.6 numpy", "scipy", [1.0], 3.0, hypotest=0.1, cls_obs=0.5, cls_exp=0.5)
    done["what"] = "pyhf numpy scipy"
    root = fit_row("ROOT 6.40.00", "Minuit2", [1.0], 3.0, hypotest=0.1, cls_obs=0.5, cls_exp=0.5)
    root["what"] = "ROOT"
    failed = {"failed": "over 900 s", "what": "pyhf numpy minuit"}
    rows = [root, done, failed]
    other = dict(done, what="pyhf numpy scipy")  # another pallet, outside this run
    saved.write_text(json.dumps({"machine": INFO, "results": {"staus": [other],
                                                              "generated/small": rows}}))
    calls = []

    def fake_worker(likelihood, engine, optimizer, repeat, part, timeout, budget):
        calls.append((likelihood, engine, optimizer, part))
        return fit_row(f"pyhf 0.7.6 {engine}", optimizer, [1.0], 3.0) if part == "fit" else {
            "hypotest": 0.2, "cls_obs": 0.5, "cls_exp": 0.5}

    monkeypatch.setattr(root_compare, "run_worker", fake_worker)
    assert root_compare.main(["--likelihood", "generated/small", "--backend", "numpy",
                              "--json", str(saved)]) == 0
    # The finished row is kept, the failed one is measured again (fit, then hypotest).
    assert calls == [("generated/small", "numpy", "minuit", "fit"),
                     ("generated/small", "numpy", "minuit", "hypotest")]
    results = json.loads(saved.read_text())["results"]
    # kept as it was, now with the settings of the run that measured it
    assert [dict(row, label=None) for row in results["staus"]] == [
        dict(other, label=None, repeat=3, budget=60.0)]
    rows = results["generated/small"]
    # (the ROOT row is there only where ROOT is installed, as in CI)
    assert [row["what"] for row in rows if row["what"] != "ROOT"] == ["pyhf numpy scipy",
                                                                     "pyhf numpy minuit"]
    assert "failed" not in rows[-1] and rows[-1]["cls_obs"] == 0.5
    assert (rows[-1]["repeat"], rows[-1]["budget"]) == (3, root_compare.BUDGET)
    table = capsys.readouterr().out
    assert "| generated/small" in table and "| staus" in table
    # The header names this run's settings; the rows kept from a run with others say which.
    assert f"exceed {root_compare.BUDGET} s" in table
    assert ("- staus, pyhf numpy scipy: measured by an earlier run, with up to 3 warm calls "
            "in 60.0 s") in table
    assert "generated/small, pyhf numpy minuit: measured by an earlier run" not in table


@pytest.mark.parametrize("value, kind, text", [(0.123, "s", "0.12"), (12.34, "s", "12.3"),
                                               (0.24434, "cls", "0.2443"), (5.96e-6, "cls", "5.96e-06"),
                                               (0.0, "d", "0"),
                                               (-1.8e-4, "d", "-1.8e-04"), (None, "s", "")])
def test_number_formats(value, kind, text):
    assert root_compare.fmt(value, kind) == text
