"""asv's CDN libraries, pinned and served from html/vendor/ (scripts/pyhfbench/dashboard_assets.py).

The pinned files themselves are fetched by scripts/bootstrap (scripts/test runs it
first); here they are checked, and the download, digest check and page rewrite are
tested on asv 0.6.6's own index.html. No network: downloads are faked.
"""

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import asv
import pytest

from pyhfbench import dashboard, dashboard_assets as assets

ASV_INDEX = Path(asv.__file__).parent / "www" / "index.html"


def tarball(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def pinned_assets():
    problems = [t for p in assets.PACKAGES.values()
                for t in assets.package_problems(p, assets.DEFAULT_ASSETS_DIR)]
    assert not problems, f"{problems[0]}: run scripts/bootstrap, which fetches them"
    return assets.DEFAULT_ASSETS_DIR


def published(tmp_path):
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(ASV_INDEX.read_text())
    return html


def test_every_cdn_url_of_asv_index_has_a_pinned_copy():
    urls = {m.group("url") for m in assets.CDN_TAG.finditer(ASV_INDEX.read_text())}
    assert urls == set(assets.CDN_FILES)
    for name, member in assets.CDN_FILES.values():
        assert member in assets.PACKAGES[name].files


def test_download_is_checked_against_the_pinned_digests(tmp_path):
    content = b"console.log('x');\n"
    good = tarball({"x.js": content})
    package = assets.Package("x", "1.0", hashlib.sha256(good).hexdigest(),
                             {"x.js": hashlib.sha256(content).hexdigest()})
    urls = []
    assets.fetch_package(package, tmp_path, fetch=lambda url: urls.append(url) or good)
    assert urls == ["https://registry.npmjs.org/x/-/x-1.0.tgz"]
    assert (tmp_path / "x-1.0" / "x.js").read_bytes() == content
    assert assets.package_problems(package, tmp_path) == []
    altered = tarball({"x.js": b"alert(1)\n"})
    with pytest.raises(assets.AssetError, match=r"x-1\.0\.tgz: sha256 .* pinned"):
        assets.fetch_package(package, tmp_path / "other", fetch=lambda url: altered)
    assert not (tmp_path / "other").exists()
    (tmp_path / "x-1.0" / "x.js").write_bytes(b"tampered")
    assert "does not have the pinned sha256" in assets.package_problems(package, tmp_path)[0]


def test_fetch_skips_what_is_there(pinned_assets):
    def no_network(url):
        raise AssertionError(f"fetched {url}")
    assert assets.fetch_assets(pinned_assets, fetch=no_network) == []


def test_page_loads_every_library_locally_and_keeps_the_rest(tmp_path, pinned_assets):
    html = published(tmp_path)
    before = ASV_INDEX.read_text()
    rewritten = assets.localize_dashboard(html, pinned_assets)
    page = (html / "index.html").read_text()
    assert sorted(rewritten) == sorted(assets.CDN_FILES)
    assert not re.search(r'(src|href)="(https?:)?//', page.split("<body")[0])
    # Nothing of asv's page dropped: the same tags, its onerror fallback, its own scripts.
    for tag in ("<script", "<link", 'onerror="js_load_failure()"', "jquery.flot.axislabels.js",
                "asv.js", "summarygrid.js", "asv.css"):
        assert page.count(tag) == before.count(tag), tag
    for url, (name, member) in assets.CDN_FILES.items():
        local = f"vendor/{assets.PACKAGES[name].folder}/{member}"
        data = (html / local).read_bytes()
        (tag,) = [t for t in re.findall(r"<(?:script|link)\b[^>]*>", page) if f'"{local}"' in t]
        assert f'integrity="{assets.sri_of(data)}"' in tag
    # The stylesheet's icon fonts sit where it looks for them (../fonts/).
    assert (html / "vendor/bootstrap-3.1.1/dist/fonts/glyphicons-halflings-regular.woff").is_file()
    assert assets.localize_dashboard(html, pinned_assets) == []  # once only


def test_without_the_assets_one_line_and_the_page_as_it_is(tmp_path):
    html = published(tmp_path)
    said = []
    assert assets.offline_dashboard(html, tmp_path / "none", say=said.append) is False
    assert len(said) == 1 and "scripts/bootstrap" in said[0] and "needs internet" in said[0]
    assert (html / "index.html").read_text() == ASV_INDEX.read_text()
    assert not (html / "vendor").exists()


def test_an_unknown_cdn_url_is_named_with_the_page(tmp_path, pinned_assets):
    html = published(tmp_path)
    index = html / "index.html"
    index.write_text(index.read_text().replace(
        "</head>", '<script src="https://cdn.example.org/new.js"></script></head>'))
    with pytest.raises(assets.AssetError, match=r"index\.html loads https://cdn\.example\.org/new\.js"):
        assets.localize_dashboard(html, pinned_assets)
    said = []
    assert assets.offline_dashboard(html, pinned_assets, say=said.append) is False
    assert len(said) == 1 and "new.js" in said[0]


def test_empty_summary_graphs_for_benchmarks_without_results(tmp_path):
    html = tmp_path / "html"
    (html / "graphs" / "summary").mkdir(parents=True)
    (html / "index.json").write_text(json.dumps({"benchmarks": {"a.run": {}, "b.notrun": {}}}))
    (html / "graphs" / "summary" / "a.run.json").write_text("[[1, 2]]")
    assert dashboard.add_empty_summaries(html) == ["b.notrun"]
    assert (html / "graphs" / "summary" / "b.notrun.json").read_text() == "[]"
    assert (html / "graphs" / "summary" / "a.run.json").read_text() == "[[1, 2]]"
