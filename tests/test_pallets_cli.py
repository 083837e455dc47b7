"""scripts/pallets end to end, as a user runs it on a fresh clone: list, fetch, verify, info, add."""

import json
import shutil

import pytest

from helpers.pallets_cli import pallets_command


@pytest.fixture
def run(tmp_path, monkeypatch):
    """scripts/pallets with a private cache and registry copy: (rc, stdout, stderr)."""
    return pallets_command(tmp_path)


def test_fetch_verify_info_from_the_mirror(run, shared_pallets):
    rc, out, err = run("fetch", "sbottom", "--mirror", shared_pallets)
    assert rc == 0, err
    assert "sbottom: " in out and "9089b0e5fabba335" in out
    rc, out, err = run("verify")
    assert rc == 0, err
    assert "sbottom: ok" in out and "654 files" in out and "generated: " in out
    rc, out, err = run("info", "sbottom/RegionB", "sbottom/RegionA")
    assert rc == 0, err
    assert "3 channels, 3 bins" in out and "218 published patches" in out
    assert "reference results: sbottom_1300_205_60" in out
    assert "staterror" in out and "histosys" in out


def test_list_shows_registered_and_quick(run, shared_pallets):
    rc, out, err = run("list", "--size", "quick", "--mirror", shared_pallets)
    assert rc == 0, err
    assert "doi:10.17182/hepdata.90607.v3/r3" in out  # registered, not downloadable here
    for key in ("sbottom/RegionB", "staus", "generated/small"):
        assert f"* {key}" in out


def test_info_mirror_only_pallet_and_generated(run, shared_pallets):
    rc, out, err = run("info", "staus", "generated/small", "--mirror", shared_pallets)
    assert rc == 0, err
    assert "5 channels, 5 bins" in out and "118 parameters" in out
    assert "5 synthetic patches" in out and "generated workspace" in out


def test_add_local_file_then_listed(run, shared_pallets, tmp_path):
    source = tmp_path / "my_BkgOnly.json"
    shutil.copyfile(shared_pallets / "ATLAS-SUSY-2018-04_staus_BkgOnly.json", source)
    rc, out, err = run("add", "mystaus", source, "--size", "quick", "--analysis", "test copy")
    assert rc == 0, err
    entry = json.loads(run.registry.read_text())["pallets"]["mystaus"]
    assert entry["sha256"] == "4c91542321ec53cda9f424ab32f4e68ffa5d4d8ea0e099df7c5e078f690f9fc0"
    assert entry["likelihoods"]["my_BkgOnly"]["digest"].startswith("956aef2f8ba24ff4")
    rc, out, err = run("list", "--size", "quick")
    assert "* mystaus" in out
    rc, out, err = run("verify", "mystaus")
    assert rc == 0 and "mystaus: ok" in out


@pytest.mark.parametrize("content, message", [
    ('{"channels": [', "malformed JSON"),
    ('{"channels": [], "version": "1.0.0"}', "fails pyhf's workspace.json schema"),
])
def test_add_bad_file_refused(run, tmp_path, content, message):
    source = tmp_path / "bad_BkgOnly.json"
    source.write_text(content)
    before = run.registry.read_text()
    rc, out, err = run("add", "bad", source)
    assert rc == 1
    assert "bad_BkgOnly.json" in err and message in err
    assert run.registry.read_text() == before
    assert not run.cache.exists() or not any(p.is_file() for p in run.cache.rglob("*"))


def test_bad_names_and_registry(run, tmp_path):
    rc, out, err = run("fetch", "nope")
    assert rc == 1 and "unknown pallet 'nope'" in err
    rc, out, err = run("info", "sbottom/RegionZ")
    assert rc == 1 and "unknown likelihood 'sbottom/RegionZ'" in err
    rc, out, err = run("fetch", "1Lbb")
    assert rc == 1 and "has no sha256 to verify against" in err
    registry = json.loads(run.registry.read_text())
    del registry["pallets"]["staus"]["url"]
    run.registry.write_text(json.dumps(registry))
    rc, out, err = run("list")
    assert rc == 1 and f"{run.registry}: pallet 'staus': missing field 'url'" in err


def test_tampered_mirror_refused(run, shared_pallets, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((shared_pallets / "ATLAS-SUSY-2018-04_staus_BkgOnly.json").read_bytes())
    data[1000] ^= 0x01
    (mirror / "ATLAS-SUSY-2018-04_staus_BkgOnly.json").write_bytes(bytes(data))
    rc, out, err = run("fetch", "staus", "--mirror", mirror)
    assert rc == 1 and "ATLAS-SUSY-2018-04_staus_BkgOnly.json: sha256" in err and "refusing it" in err
    assert not any(p.is_file() for p in run.cache.rglob("*"))
