"""Issue 29, probe 6: archive members resolved against the real target folder, links followed,
in the pallet extractor and the local-repository builder alike, whatever the Python version
(Python's own ``data`` filter, missing before 3.11.4, is switched off here)."""

import io
import json
import tarfile

import pytest

from benchmarks.support import generate, pallets, safe_extract
from pyhfbench import localrepo

#: The chain from the issue: each link resolves inside on its own, lexically.
CHAIN = [("sub/up", ".."), ("sub/L", "up/..")]


def make_tar(path, entries):
    """``entries``: (name, bytes) for a file, (name, "->target") for a symbolic link, (name, None)
    for a folder."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data[2:]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(params=["python filter", "no python filter"])
def python_filter(request, monkeypatch):
    if request.param == "no python filter":  # as on Python before 3.11.4
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return request.param


def chain_archive(path, payload=b"escaped"):
    return make_tar(path, [("ws.json", b"{}")] + [(n, "->" + t) for n, t in CHAIN]
                    + [("sub/L/x", payload)])


def test_the_chain_passes_the_lexical_check(tmp_path):
    """What the check before saw: every name and link target lexically inside."""
    for name, target in CHAIN:
        pallets._check_member_name("a.tar", name, f"sub/{target}")
    pallets._check_member_name("a.tar", "sub/L/x")


def test_pallet_extractor_refuses_the_chain(tmp_path, python_filter):
    archive = chain_archive(tmp_path / "chain.tar.gz")
    dest = tmp_path / "box" / "dest"
    dest.parent.mkdir()
    with pytest.raises(pallets.PalletError, match=r"chain.tar.gz: entry 'sub/L' links to "
                       r"'up/\.\.'.*outside the target folder; nothing was extracted"):
        pallets.unpack(archive, dest)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["box", "chain.tar.gz", "dest"]
    assert list(dest.iterdir()) == []


def test_a_write_through_a_link_made_earlier_is_refused(tmp_path, python_filter):
    """A link that points inside when made, and outside once a later link is laid out."""
    archive = make_tar(tmp_path / "late.tar.gz", [
        ("a", "->b/.."),  # b missing: resolves to the folder itself
        ("b", "->."),     # inside; now a resolves to the folder's parent
        ("a/x", b"escaped")])
    dest = tmp_path / "box" / "dest"
    dest.parent.mkdir()
    with pytest.raises(pallets.PalletError, match=r"late.tar.gz: entry '(a|a/x)' .*outside"):
        pallets.unpack(archive, dest)
    assert not (tmp_path / "box" / "x").exists()
    assert list(dest.iterdir()) == []


def test_links_inside_are_extracted(tmp_path, python_filter):
    archive = make_tar(tmp_path / "fine.tar.gz", [
        ("A", None), ("A/ws.json", b"{}"), ("B/ws.json", "->../A/ws.json"), ("C", "->A")])
    dest = tmp_path / "dest"
    pallets.unpack(archive, dest)
    assert (dest / "B" / "ws.json").read_bytes() == b"{}" and (dest / "C" / "ws.json").is_file()


def test_fetch_of_the_chain_leaves_the_cache_empty(tmp_path, monkeypatch, python_filter):
    monkeypatch.setenv("PYHF_BENCH_CACHE", str(tmp_path / "cache"))
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"pallets": {}}))
    monkeypatch.setenv("PYHF_BENCH_REGISTRY", str(registry))
    pallets.clear_caches()
    spec = json.dumps(generate.workspace(channels=1, bins=1, samples=2, normsys=1,
                                         histosys=0)).encode()
    archive = make_tar(tmp_path / "evil.tar.gz", [("ws.json", spec)]
                       + [(n, "->" + t) for n, t in CHAIN] + [("sub/L/x", b"escaped")])
    from pyhfbench import pallet_registry

    with pytest.raises(pallets.PalletError, match=rf"^{archive}: entry 'sub/L' links to "
                       r"'up/\.\.'.*outside the target folder"):
        pallet_registry.add("evil", archive)
    assert json.loads(registry.read_text()) == {"pallets": {}}
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
    assert not (tmp_path / "cache" / "x").exists() and not (tmp_path / "x").exists()
    pallets.clear_caches()


def test_local_repository_builder_refuses_names_outside(tmp_path, python_filter):
    worktree = tmp_path / "work"
    worktree.mkdir()
    (worktree / "kept.py").write_text("as it was\n")
    sdist = make_tar(tmp_path / "pyhf-0.0.1.tar.gz", [
        ("pyhf-0.0.1/setup.py", b""), ("pyhf-0.0.1/../../escaped.py", b"escaped")])
    with pytest.raises(localrepo.LocalRepoError, match=r"pyhf-0.0.1.tar.gz: entry "
                       r"'pyhf-0.0.1/\.\./\.\./escaped.py' would be written through"):
        localrepo._unpack_sdist(sdist, worktree)
    assert not (tmp_path / "escaped.py").exists()
    assert (worktree / "kept.py").read_text() == "as it was\n"  # refused before anything moved


def test_extract_tar_refuses_the_chain_for_any_caller(tmp_path, python_filter):
    archive = chain_archive(tmp_path / "chain.tar.gz")
    dest = tmp_path / "dest"
    dest.mkdir()
    refused = []

    def refuse(name, why):
        refused.append(name)
        raise RuntimeError(why)

    with tarfile.open(archive) as tar, pytest.raises(RuntimeError, match="outside"):
        safe_extract.extract_tar(tar, tar.getmembers(), dest, refuse)
    assert refused == ["sub/L"] and not (tmp_path / "x").exists()
