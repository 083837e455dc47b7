"""Issue 29, probes 4 and 5: pallets are checked for physics, not only schema, and a file that
cannot be read is named, not a traceback. Every input is built here."""

import copy
import json
import math
import shutil

import pytest

from benchmarks.support import pallets
from conftest import REPO_ROOT
from helpers.pallets_cli import pallets_command
from pyhfbench import pallet_registry


GOOD = {
    "channels": [{"name": "SR", "samples": [
        {"name": "bkg", "data": [5.0, 3.0], "modifiers": [
            {"name": "mu_b", "type": "normfactor", "data": None},
            {"name": "stat_SR", "type": "staterror", "data": [0.5, 0.3]},
            {"name": "jes", "type": "histosys", "data": {"hi_data": [5.5, 3.2],
                                                         "lo_data": [4.5, 2.8]}},
        ]}]}],
    "observations": [{"name": "SR", "data": [6.0, 2.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu_b", "parameters": []}}],
    "version": "1.0.0",
}


def spec_with(edit):
    spec = copy.deepcopy(GOOD)
    edit(spec)
    return spec


SAMPLE = "channel 'SR', sample 'bkg'"
BAD_SPECS = {
    "nan_yield": (lambda s: s["channels"][0]["samples"][0]["data"].__setitem__(1, math.nan),
                  f"{SAMPLE}: yield, bin 1: nan is NaN"),
    "negative_yield": (lambda s: s["channels"][0]["samples"][0]["data"].__setitem__(0, -2.0),
                       f"{SAMPLE}: yield, bin 0: -2.0 is negative"),
    "nan_observation": (lambda s: s["observations"][0]["data"].__setitem__(0, math.nan),
                        "observation of channel 'SR': observed, bin 0: nan is NaN"),
    "nan_staterror": (lambda s: s["channels"][0]["samples"][0]["modifiers"][1]["data"]
                      .__setitem__(1, math.nan),
                      f"{SAMPLE}: modifier 'stat_SR' (staterror) uncertainty, bin 1: nan is NaN"),
    "inf_histosys": (lambda s: s["channels"][0]["samples"][0]["modifiers"][2]["data"]["hi_data"]
                     .__setitem__(0, math.inf),
                     f"{SAMPLE}: modifier 'jes' (histosys) hi_data, bin 0: inf is infinite"),
}


@pytest.fixture
def run(tmp_path):
    """scripts/pallets with a private cache and registry copy: (rc, stdout, stderr)."""
    return pallets_command(tmp_path)


def assert_refused(run, source, *messages):
    before = run.registry.read_bytes()
    rc, out, err = run("add", "bad", source)
    assert rc == 1, (out, err)
    assert "Traceback" not in err
    assert err.startswith(f"pallets add: error: {source}")
    for message in messages:
        assert message in err
    assert run.registry.read_bytes() == before
    assert not run.cache.exists() or not any(p.is_file() for p in run.cache.rglob("*"))


def test_a_good_workspace_is_added(run, tmp_path):
    source = tmp_path / "good_BkgOnly.json"
    source.write_text(json.dumps(GOOD))
    rc, out, err = run("add", "good", source, "--size", "quick")
    assert rc == 0, err
    rc, out, err = run("verify", "good")
    assert rc == 0 and "good: ok" in out, err


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_add_refuses_what_no_model_can_take(run, tmp_path, case):
    edit, message = BAD_SPECS[case]
    source = tmp_path / f"{case}_BkgOnly.json"
    source.write_text(json.dumps(spec_with(edit)))  # NaN and Infinity as Python writes them
    assert_refused(run, source, message)


def test_add_refuses_a_yield_that_reads_as_infinite(run, tmp_path):
    source = tmp_path / "huge_BkgOnly.json"
    source.write_text(json.dumps(GOOD).replace('"data": [5.0, 3.0]', '"data": [1e999999, 3.0]'))
    assert_refused(run, source, f"{SAMPLE}: yield, bin 0: inf is infinite")


def test_add_refuses_what_pyhf_cannot_build(run, tmp_path):
    """Samples of one channel with different bins: pyhf's model build says."""
    source = tmp_path / "bins_BkgOnly.json"
    source.write_text(json.dumps(spec_with(lambda s: s["channels"][0]["samples"].append(
        {"name": "other", "data": [1.0, 2.0, 3.0], "modifiers": []}))))
    assert_refused(run, source, "pyhf cannot build its model: InvalidModel")


def test_add_refuses_an_observation_of_other_bins(run, tmp_path):
    """pyhf builds the model and fails only when the data meet it: checked before."""
    source = tmp_path / "obs_BkgOnly.json"
    source.write_text(json.dumps(spec_with(lambda s: s["observations"][0]["data"].append(1.0))))
    assert_refused(run, source, "observation of channel 'SR': 3 bins, where the channel's "
                                "samples have 2")


@pytest.mark.parametrize("content, message", [
    ("[" * 1_000_000 + "]" * 1_000_000, "malformed JSON: nested too deeply to read"),
    ('{"channels": ' + "9" * 3_000_000 + "}", "malformed JSON: Exceeds the limit"),
])
def test_add_names_a_file_it_cannot_read(run, tmp_path, content, message):
    source = tmp_path / "deep_BkgOnly.json"
    source.write_text(content)
    assert_refused(run, source, message)


def test_patches_with_nan_yields_are_refused(tmp_path):
    root = tmp_path / "tree"
    (root / "A").mkdir(parents=True)
    (root / "A" / "BkgOnly.json").write_text(json.dumps(GOOD))
    patch = [{"op": "add", "path": "/channels/0/samples/1",
              "value": {"name": "signal", "data": [1.0, math.nan], "modifiers": [
                  {"name": "mu_SIG", "type": "normfactor", "data": None}]}}]
    (root / "A" / "patch.sig.json").write_text(json.dumps(patch))
    entry = {"likelihoods": {"A": {"workspace": "A/BkgOnly.json", "patches": "A/patch.*.json",
                                   "size": "quick"}}}
    with pytest.raises(pallets.PalletError, match=r"patch.sig.json: 0/value/sample 'signal': "
                       r"yield, bin 1: nan is NaN"):
        pallets.check_tree("bad", entry, root, patches=True)


def test_verify_refuses_a_cached_pallet_that_was_let_in_before(tmp_path, monkeypatch):
    """A pallet cached by code without the physics check: verify says so, naming the bin."""
    monkeypatch.setenv("PYHF_BENCH_CACHE", str(tmp_path / "cache"))
    registry = tmp_path / "registry.json"
    shutil.copyfile(REPO_ROOT / "pallets" / "registry.json", registry)
    monkeypatch.setenv("PYHF_BENCH_REGISTRY", str(registry))
    pallets.clear_caches()
    source = tmp_path / "old_BkgOnly.json"
    source.write_text(json.dumps(spec_with(BAD_SPECS["negative_yield"][0])))
    with monkeypatch.context() as before_the_check:
        before_the_check.setattr(pallets, "check_physics", lambda spec, label: None)
        before_the_check.setattr(pallet_registry, "check_model", lambda spec, label: None)
        pallet_registry.add("old", source, size="quick")
    with pytest.raises(pallets.PalletError, match=rf"old_BkgOnly.json: {SAMPLE}: yield, bin 0: "
                       r"-2.0 is negative"):
        pallet_registry.verify("old")
    pallets.clear_caches()
