"""The pallet registry, fetching (HTTP and mirror), safe extraction, bad input, and loading.

Downloads are real HTTP downloads from a server started on 127.0.0.1 that
serves the real sbottom archive of the shared mirror and tampered, truncated
and malicious copies made here. Every test uses its own cache and registry copy.
"""

import functools
import hashlib
import http.server
import io
import json
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from benchmarks.support import generate, pallets
from conftest import REPO_ROOT
from pyhfbench import pallet_registry

SBOTTOM = "hepdata.89408.v3_r2_sbottom_pallet.tar.gz"
STAUS = "ATLAS-SUSY-2018-04_staus_BkgOnly.json"


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(root):
    """Every file under ``root`` with its digest: what "the cache as it was" means."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): sha256(p) for p in root.rglob("*") if p.is_file()}


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``/truncated/NAME`` announces NAME's full length and sends half."""

    def do_GET(self):
        if self.path.startswith("/truncated/"):
            data = Path(self.directory, self.path.split("/", 2)[2]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_pallets):
    """An HTTP server on 127.0.0.1 with the real archive and bad copies; yields (folder, base URL)."""
    folder = tmp_path_factory.mktemp("served")
    real = (shared_pallets / SBOTTOM).read_bytes()
    (folder / SBOTTOM).write_bytes(real)
    tampered = bytearray(real)
    tampered[len(real) // 2] ^= 0xFF
    (folder / "tampered.tar.gz").write_bytes(bytes(tampered))
    (folder / "truncated.tar.gz").write_bytes(real[: len(real) // 3])
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Setup:
    """A private cache and registry copy for one test."""

    def __init__(self, tmp_path, monkeypatch):
        self.cache = tmp_path / "cache"
        self.registry = tmp_path / "registry.json"
        shutil.copyfile(REPO_ROOT / "pallets" / "registry.json", self.registry)
        monkeypatch.setenv("PYHF_BENCH_CACHE", str(self.cache))
        monkeypatch.setenv("PYHF_BENCH_REGISTRY", str(self.registry))
        monkeypatch.delenv("PYHF_BENCH_PALLET_MIRROR", raising=False)
        pallets.clear_caches()

    def edit(self, name, entry=None, **changes):
        """Replace or change pallet ``name`` in the registry copy."""
        registry = json.loads(self.registry.read_text())
        registry["pallets"][name] = entry or {**registry["pallets"][name], **changes}
        self.registry.write_text(json.dumps(registry, indent=2))
        pallets.clear_caches()

    def add_tiny(self, name, published, workspace="ws.json", url=None, **extra):
        """Register ``published`` (a file made by the test) as an archive pallet."""
        self.edit(name, {
            "type": "archive", "title": "test", "analysis": "test", "publication": "test",
            "doi": None, "url": url, "archive": Path(published).name, "sha256": sha256(published),
            "likelihoods": {"only": {"workspace": workspace, "size": "quick"}}, **extra,
        })


@pytest.fixture
def setup(tmp_path, monkeypatch):
    yield Setup(tmp_path, monkeypatch)
    pallets.clear_caches()


def tiny_workspace():
    return generate.workspace(channels=1, bins=1, samples=2, normsys=1, histosys=0)


def make_tar(path, files=(), links=()):
    """A tar.gz with ``files`` (name, bytes) and ``links`` (name, target, hard?)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target, hard in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


# --- the registry ------------------------------------------------------------------------------

def test_registry_keys_and_quick_list(setup, shared_pallets, monkeypatch):
    registry = pallets.load_registry()
    keys = {key for name, entry in registry["pallets"].items() for key in pallets.keys_of(name, entry)}
    assert keys >= {
        "sbottom/RegionA", "sbottom/RegionB", "sbottom/RegionC", "staus", "compressed-sleptons",
        "compressed-ewkinos", "generated/small", "generated/medium", "generated/large", "1Lbb"}
    # Without a mirror: only what can be downloaded with a pinned sha256, or generated.
    assert pallets.likelihoods("quick") == ["sbottom/RegionB", "generated/small"]
    monkeypatch.setenv("PYHF_BENCH_PALLET_MIRROR", str(shared_pallets))
    assert pallets.likelihoods("quick") == ["sbottom/RegionB", "staus", "generated/small"]
    full = pallets.likelihoods("full")
    assert set(pallets.likelihoods("quick")) < set(full)
    assert "1Lbb" not in full and "compressed-ewkinos" in full  # not pinned / mirror-backed
    for name in ("1Lbb", "staus-hepdata", "SS3L", "sbottom"):
        assert registry["pallets"][name]["doi"].startswith("10.17182/hepdata.")


@pytest.mark.parametrize("field", ["sha256", "archive", "likelihoods", "doi"])
def test_registry_entry_missing_field(setup, field):
    registry = json.loads(setup.registry.read_text())
    del registry["pallets"]["sbottom"][field]
    setup.registry.write_text(json.dumps(registry))
    pallets.clear_caches()
    with pytest.raises(pallets.PalletError, match=rf"registry.json: pallet 'sbottom': missing field '{field}'"):
        pallets.likelihoods("quick")


def test_registry_likelihood_missing_field(setup):
    registry = json.loads(setup.registry.read_text())
    del registry["pallets"]["sbottom"]["likelihoods"]["RegionB"]["workspace"]
    setup.registry.write_text(json.dumps(registry))
    pallets.clear_caches()
    with pytest.raises(pallets.PalletError, match="likelihood 'RegionB': missing field 'workspace'"):
        pallets.load_registry()


def test_malformed_registry(setup):
    setup.registry.write_text('{"pallets": {')
    pallets.clear_caches()
    with pytest.raises(pallets.PalletError, match=r"registry.json: malformed registry"):
        pallets.load_registry()


def test_unknown_names(setup):
    with pytest.raises(pallets.PalletError, match="unknown pallet 'nope'; known: sbottom"):
        pallets.load_workspace("nope")
    with pytest.raises(pallets.PalletError, match="unknown likelihood 'sbottom/RegionZ'"):
        pallets.load_workspace("sbottom/RegionZ")
    with pytest.raises(pallets.PalletError, match="generated/small: unknown patch 'sbottom_1_2_3'"):
        pallets.load_patch("generated/small", "sbottom_1_2_3")


# --- fetching over HTTP ------------------------------------------------------------------------

def test_fetch_real_archive_over_http(setup, served):
    _, base = served
    setup.edit("sbottom", url=f"{base}/{SBOTTOM}")
    folder = pallets.fetch("sbottom")
    manifest = pallet_registry.verify("sbottom")
    assert manifest["sha256"] == pallets.pallet_entry("sbottom")["sha256"]
    assert manifest["source"] == f"{base}/{SBOTTOM}"
    assert (folder / "RegionA" / "BkgOnly.json").is_file()
    assert [len(pallets.patch_names(f"sbottom/Region{r}")) for r in "ABC"] == [217, 218, 215]
    assert not [p for p in setup.cache.iterdir() if p.name.startswith(".staging")]
    # Cached now: a second fetch does not download (the server URL is not needed).
    setup.edit("sbottom", url="http://127.0.0.1:9/unreachable")
    assert pallets.fetch("sbottom") == folder


def test_tampered_archive_refused(setup, served):
    _, base = served
    setup.edit("sbottom", url=f"{base}/tampered.tar.gz")
    with pytest.raises(pallets.PalletError, match=r"tampered.tar.gz: sha256 \w+ differs from the registry's 9089b0e5"):
        pallets.fetch("sbottom")
    assert snapshot(setup.cache) == {}


def test_truncated_download_refused(setup, served):
    _, base = served
    setup.edit("sbottom", url=f"{base}/truncated/{SBOTTOM}")
    with pytest.raises(pallets.PalletError, match=rf"truncated/{SBOTTOM}: download"):
        pallets.fetch("sbottom")
    assert snapshot(setup.cache) == {}


def test_truncated_archive_refused(setup, served, shared_pallets):
    folder, base = served
    setup.edit("sbottom", archive="truncated.tar.gz", url=f"{base}/truncated.tar.gz",
               sha256=sha256(folder / "truncated.tar.gz"))  # the digest matches: extraction must fail
    with pytest.raises(pallets.PalletError, match=r"truncated.tar.gz: truncated or corrupt archive"):
        pallets.fetch("sbottom")
    assert snapshot(setup.cache) == {}


def test_refused_fetch_leaves_cache_as_it_was(setup, served, shared_pallets):
    _, base = served
    pallets.fetch("staus", mirror=shared_pallets)
    before = snapshot(setup.cache)
    setup.edit("sbottom", url=f"{base}/tampered.tar.gz")
    with pytest.raises(pallets.PalletError):
        pallets.fetch("sbottom")
    setup.edit("staus", sha256="0" * 64)  # a registry update: the cached copy no longer matches
    with pytest.raises(pallets.PalletError, match="differs from the registry's 0000"):
        pallets.fetch("staus", mirror=shared_pallets)
    assert snapshot(setup.cache) == before


def test_interrupted_fetch_leaves_nothing(setup, shared_pallets, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pallets, "check_tree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pallets.fetch("sbottom", mirror=shared_pallets)
    assert snapshot(setup.cache) == {} and list(setup.cache.iterdir()) == []
    assert not pallets.is_cached("sbottom")


# --- safe extraction ---------------------------------------------------------------------------

@pytest.mark.parametrize("files, links, why", [
    ([("ws.json", b"{}"), ("../escape.json", b"{}")], [], "escapes the target folder"),
    ([("ws.json", b"{}"), ("/tmp/pyhf-bench-absolute.json", b"{}")], [], "absolute path"),
    ([("ws.json", b"{}")], [("link", "/etc/passwd", False)], "links to the absolute path"),
    ([("ws.json", b"{}")], [("sub/link", "../../outside", False)], "outside the target folder"),
    ([("ws.json", b"{}")], [("hard", "../outside", True)], "outside the target folder"),
])
def test_malicious_archive_refused(setup, served, files, links, why):
    folder, base = served
    name = f"evil-{abs(hash(why)) % 10**6}.tar.gz"
    make_tar(folder / name, files, links)
    setup.add_tiny("evil", folder / name, url=f"{base}/{name}")
    with pytest.raises(pallets.PalletError, match=rf"{name}: entry .* {why}.*nothing was extracted"):
        pallets.fetch("evil")
    assert snapshot(setup.cache) == {}
    assert not (setup.cache.parent / "escape.json").exists()
    assert not Path("/tmp/pyhf-bench-absolute.json").exists()


def test_malicious_zip_refused(setup, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ws.json", "{}")
        zipped.writestr("../../escape.json", "{}")
    setup.add_tiny("evil", archive)
    with pytest.raises(pallets.PalletError, match=r"evil.zip: entry '../../escape.json' escapes"):
        pallets.fetch("evil", mirror=tmp_path)
    assert snapshot(setup.cache) == {}


def test_size_cap(setup, tmp_path):
    archive = make_tar(tmp_path / "big.tar.gz", [("ws.json", json.dumps(tiny_workspace()).encode())])
    setup.add_tiny("big", archive, max_unpacked_bytes=100)
    with pytest.raises(pallets.PalletError, match=r"big.tar.gz: unpacks to \d+ bytes, over the cap of 100"):
        pallets.fetch("big", mirror=tmp_path)
    assert snapshot(setup.cache) == {}


# --- bad workspaces and patches ----------------------------------------------------------------

def test_malformed_json_refused(setup, tmp_path):
    archive = make_tar(tmp_path / "broken.tar.gz", [("ws.json", b'{"channels": [')])
    setup.add_tiny("broken", archive)
    with pytest.raises(pallets.PalletError, match=r"ws.json: malformed JSON"):
        pallets.fetch("broken", mirror=tmp_path)
    assert snapshot(setup.cache) == {}


def test_schema_failure_refused(setup, tmp_path):
    spec = tiny_workspace()
    del spec["observations"]
    archive = make_tar(tmp_path / "invalid.tar.gz", [("ws.json", json.dumps(spec).encode())])
    setup.add_tiny("invalid", archive)
    with pytest.raises(pallets.PalletError, match=r"ws.json: fails pyhf's workspace.json schema"):
        pallets.fetch("invalid", mirror=tmp_path)
    assert snapshot(setup.cache) == {}


def test_add_refuses_bad_patch_and_keeps_registry(setup, tmp_path):
    archive = make_tar(tmp_path / "badpatch.tar.gz", [
        ("A/BkgOnly.json", json.dumps(tiny_workspace()).encode()),
        ("A/patch.good.json", json.dumps(generate.signal_patches(tiny_workspace(), 1)["synthetic_signal_0"]).encode()),
        ("A/patch.bad.json", b'[{"op": "frobnicate", "path": "/channels"}]'),
    ])
    registry_before = setup.registry.read_text()
    with pytest.raises(pallets.PalletError, match=r"A/patch.bad.json: fails pyhf's jsonpatch.json schema"):
        pallet_registry.add("badpatch", archive)
    assert setup.registry.read_text() == registry_before
    assert snapshot(setup.cache) == {}


def test_add_local_archive_is_picked_up(setup, tmp_path):
    spec = tiny_workspace()
    patches = generate.signal_patches(spec, 2)
    archive = make_tar(tmp_path / "mine.tar.gz", [("SR/BkgOnly.json", json.dumps(spec).encode())] + [
        (f"SR/patch.{name}.json", json.dumps(ops).encode()) for name, ops in patches.items()])
    entry = pallet_registry.add("mine", archive, size="quick")
    assert entry["sha256"] == sha256(archive)
    assert entry["likelihoods"]["SR"]["patches"] == "SR/patch.*.json"
    assert "mine" in pallets.likelihoods("quick")  # benchmarks see it, no code change
    assert pallets.patch_names("mine") == ["synthetic_signal_0", "synthetic_signal_1"]
    model, data = pallets.load_model("mine", "synthetic_signal_1")
    assert model.config.poi_name == "mu_SIG" and len(data) == model.config.nmaindata + len(model.config.auxdata)
    with pytest.raises(pallets.PalletError, match="exists already"):
        pallet_registry.add("mine", archive)


# --- the mirror and the loaders ----------------------------------------------------------------

def test_mirror_and_loaders(setup, shared_pallets, monkeypatch):
    monkeypatch.setenv("PYHF_BENCH_PALLET_MIRROR", str(shared_pallets))
    workspace = pallets.load_workspace("sbottom/RegionB")  # fetches from the mirror on first use
    assert pallets.load_workspace("sbottom/RegionB") is workspace
    assert pallets.read_manifest("sbottom")["source"] == str(shared_pallets / SBOTTOM)
    model, data = pallets.load_model("sbottom/RegionB")
    assert model.config.poi_name is None and model.config.nmaindata == 3
    assert pallets.signal_patch("sbottom/RegionA") == "sbottom_1300_205_60"
    assert not pallets.is_synthetic("sbottom/RegionA", "sbottom_1300_205_60")
    assert pallets.reference_results("sbottom/RegionA", "sbottom_1400_950_60")["cls_obs"] == pytest.approx(0.0213732839)
    assert pallets.reference_results("sbottom/RegionB", "sbottom_1300_205_60") is None
    # A background-only pallet: synthetic signals on its real background model.
    name = pallets.signal_patch("staus")
    assert pallets.is_synthetic("staus", name) and "synthetic signal on a real background" in pallets.label("staus", name)
    model, data = pallets.load_model("staus", name)
    assert model.config.poi_name == "mu_SIG" and generate.SIGNAL_SAMPLE in model.config.samples
    assert pallets.is_synthetic("generated/small") and not pallets.is_synthetic("staus")


def test_mirror_missing_file(setup, tmp_path):
    with pytest.raises(pallets.PalletError, match=rf"{SBOTTOM}: not in the mirror"):
        pallets.fetch("sbottom", mirror=tmp_path)
    # asv runs benchmarks in another folder: a relative mirror is the likely cause, said so.
    with pytest.raises(pallets.PalletError, match="a relative path, read from .*absolute path"):
        pallets.fetch("sbottom", mirror="no/such/mirror")
    with pytest.raises(pallets.PalletError, match="no URL for it; give a mirror"):
        pallets.fetch("staus")


def test_reference_cls_from_registry(setup, shared_pallets, monkeypatch):
    """The published sbottom CLs, reproduced through the registry's loader."""
    import pyhf

    monkeypatch.setenv("PYHF_BENCH_PALLET_MIRROR", str(shared_pallets))
    pyhf.set_backend("numpy", "scipy")
    key, patch = "sbottom/RegionA", pallets.signal_patch("sbottom/RegionA")
    reference = pallets.reference_results(key, patch)
    model, data = pallets.load_model(key, patch)
    cls_obs, cls_exp = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected_set=True)
    assert float(cls_obs) == pytest.approx(reference["cls_obs"], rel=reference["rtol"])
    assert [float(c) for c in cls_exp] == pytest.approx(reference["cls_exp"], rel=reference["rtol_exp"])
