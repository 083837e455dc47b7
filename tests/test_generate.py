"""The workspace generator and the synthetic signal patches: determinism, schema, realism."""

import json

import pytest

from benchmarks.support import generate, pallets, pyhf_compat
from conftest import REPO_ROOT

pyhf = pytest.importorskip("pyhf")


def registry_generated():
    registry = json.loads((REPO_ROOT / "pallets" / "registry.json").read_text())
    return registry["pallets"]["generated"]["likelihoods"]


@pytest.mark.parametrize("size", sorted(registry_generated()))
def test_deterministic_and_as_registered(size):
    likelihood = registry_generated()[size]
    first = generate.workspace(**likelihood["generator"])
    second = generate.workspace(**likelihood["generator"])
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert pyhf.utils.digest(first) == likelihood["digest"]


def test_seed_changes_the_workspace():
    assert generate.workspace(seed=1) != generate.workspace(seed=2)


@pytest.mark.parametrize("params", [
    dict(channels=1, bins=1, samples=1, normsys=0, histosys=0),
    dict(channels=1, bins=3, samples=2, normsys=1, histosys=1),
    dict(channels=3, bins=4, samples=5, normsys=3, histosys=2),
    dict(channels=9, bins=7, samples=10, normsys=12, histosys=6),
    dict(channels=20, bins=100, samples=6, normsys=60, histosys=30),  # 2000 bins
])
def test_schema_valid_and_sized(params):
    spec = generate.workspace(**params)
    workspace = pyhf.Workspace(spec)  # validates against pyhf's workspace schema
    bins = sum(len(o["data"]) for o in workspace["observations"])
    assert bins == params["channels"] * params["bins"]
    assert all(o >= 0 for obs in spec["observations"] for o in obs["data"])


def test_realistic_structure():
    spec = generate.workspace(channels=4, bins=5, samples=4, normsys=6, histosys=3)
    names = [c["name"] for c in spec["channels"]]
    assert names == ["CR_ttbar", "CR_wjets", "SR_0", "SR_1"]
    types = {m["type"] for c in spec["channels"] for s in c["samples"] for m in s["modifiers"]}
    assert types == {"normsys", "histosys", "shapesys", "staterror", "lumi", "normfactor"}
    model = pyhf_compat.model_from_workspace(pyhf.Workspace(spec), poi_name=None)
    assert model.config.nmaindata == 20
    # 6 normsys + 3 histosys + lumi + 2 mu_<bkg> + one staterror and one shapesys per bin
    assert model.config.npars == 6 + 3 + 1 + 2 + 20 + 20
    with pytest.raises(pyhf.exceptions.InvalidModel):  # POI declared, on no sample: as published
        pyhf.Workspace(spec).model()


def test_synthetic_signals_valid_deterministic_and_ordered():
    spec = generate.workspace(**registry_generated()["small"]["generator"])
    patches = generate.signal_patches(spec, count=3, seed=3)
    assert patches == generate.signal_patches(spec, count=3, seed=3)
    assert list(patches) == generate.signal_patch_names(3)
    assert all(generate.is_synthetic_name(name) for name in patches)
    workspace = pyhf.Workspace(spec)
    yields = []
    for patch in patches.values():
        pyhf.schema.validate(patch, "jsonpatch.json")
        yields.append(sum(sum(op["value"]["data"]) for op in patch))
    assert yields == sorted(yields)  # weakest first
    model = pyhf_compat.model_from_workspace(workspace, [patches["synthetic_signal_1"]])
    assert model.config.poi_name == "mu_SIG"
    cls = float(pyhf.infer.hypotest(1.0, workspace.data(model), model, test_stat="qtilde"))
    assert 0 < cls < 1


def test_synthetic_signals_on_published_background(shared_pallets):
    spec = json.loads((shared_pallets / "ATLAS-SUSY-2018-16_compressed_Sleptons_BkgOnly.json").read_text())
    patch = generate.signal_patches(spec, count=1)["synthetic_signal_0"]
    sr = [op["path"] for op in patch]
    assert len(sr) == sum(c["name"].startswith("SR") for c in spec["channels"])
    model = pyhf_compat.model_from_workspace(pyhf.Workspace(spec), [patch])
    assert generate.SIGNAL_SAMPLE in model.config.samples


def test_generated_keys_through_the_loader(tmp_path, monkeypatch):
    monkeypatch.setenv("PYHF_BENCH_CACHE", str(tmp_path))
    pallets.clear_caches()
    model, data = pallets.load_model("generated/small", pallets.signal_patch("generated/small"))
    assert model.config.poi_name == "mu_SIG" and model.config.nmaindata == 6
    assert list(tmp_path.iterdir()) == []  # nothing to cache for generated workspaces
