"""The JavaScript and CSS asv's dashboard loads from CDNs, kept locally so it opens offline.

asv 0.6.6's ``index.html`` loads jQuery, flot and its plugins, stupidtable,
blueimp-md5 and bootstrap from code.jquery.com, cdnjs and jsDelivr. Without
internet (GPU nodes, batch clusters, CI) the page shows asv's error page. Here
the same versions come from the npm registry, each tarball checked against a
pinned sha256, fetched once by ``scripts/bootstrap`` into ``.asv/dashboard-assets/``
(``fetch_assets``). Every publish then copies them into ``html/vendor/`` and
points the page's CDN tags at the copies (``localize_dashboard``); the rest of
asv's page (its ``onerror`` fallback, the axis-label plugin, its own scripts)
stays as it is. The ``integrity`` attribute is set to the local file's digest:
cdnjs serves minified builds of flot 0.8.3 that are not on npm, and
stupidtable is on npm only as stupid-table-plugin 1.1.x (asv names 1.0.1 from
cdnjs), so for those two the file differs from the one asv names.

Command line: ``python -m pyhfbench.dashboard_assets fetch|check|localize HTML_DIR``.
"""

import base64
import hashlib
import io
import re
import shutil
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ASSETS_DIR = REPO_ROOT / ".asv" / "dashboard-assets"
VENDOR = "vendor"
REGISTRY = "https://registry.npmjs.org"
MARK = "<!-- pyhf-benchmarks: CDN libraries served from vendor/ (scripts/pyhfbench/dashboard_assets.py) -->"


class AssetError(RuntimeError):
    pass


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    tarball_sha256: str
    #: path inside the tarball's ``package/`` -> sha256 of the file
    files: dict

    @property
    def folder(self):
        return f"{self.name}-{self.version}"

    @property
    def tarball_url(self):
        return f"{REGISTRY}/{self.name}/-/{self.name}-{self.version}.tgz"


PACKAGES = {
    "jquery": Package("jquery", "3.3.1",
                      "2c7c70a1e796c1568ff05d45a8cb2da2a0fc6e37426c65e4eef6ee55e217933e", {
                          "dist/jquery.min.js":
                          "160a426ff2894252cd7cebbdd6d6b7da8fcd319c65b70468f10b6690c45d02ef"}),
    # npm's flot 0.8.3 has the plugins unminified only (cdnjs minified them itself).
    "flot": Package("flot", "0.8.3",
                    "5e4cea78a9efa2d3dbba363ac76c688951e6c638ee916883c36e23516208b1ed", {
                        "jquery.flot.js":
                        "b7b931f273c38b1277b9c6c1f4e05c4ec09885a487bddaf3279e2d7e49a38e12",
                        "jquery.flot.time.js":
                        "a582c832adc7138a6b05aaf61f16ebac274701f1be4afea77e739a1c34b9c41a",
                        "jquery.flot.selection.js":
                        "e6c85f6c1ebe4b4da29d8ae238c7c5060283f05f7ef054f6b91817d02c092918",
                        "jquery.flot.categories.js":
                        "6e81664b28ea795c734906f4aa15614640a75ac7fbd399a7fb9084040698351a"}),
    "flot-orderbars": Package("flot-orderbars", "1.0.0",
                              "e5523ee7cca778f194b34fc31afb6dda40bf1557e6669fda4730c29f53e87101", {
                                  "js/jquery.flot.orderBars.js":
                                  "39735b4f46f96ff4e082572401f47c55a2767b366fd1d1e821e44a8d830a12bf"}),
    # asv names stupidtable 1.0.1 (cdnjs); npm has stupid-table-plugin 1.1.x only.
    "stupid-table-plugin": Package("stupid-table-plugin", "1.1.3",
                                   "1186089584b7c2f7fec9ad4232e9aa1adbfea273eaa233b713beb8c2c916b4ac", {
                                       "stupidtable.min.js":
                                       "4642380f28ebe9ed7cac251793b281ef8620c4386205d92788f9b12f5cceb4e0"}),
    "blueimp-md5": Package("blueimp-md5", "2.19.0",
                           "0fff5798c7733b21f3e4c0de69ccba12af266e0f01c3e3a41051c0e49a655512", {
                               "js/md5.min.js":
                               "64d7ded388c562e4bde9e58ce205e5fa01b9734fcd434d496eb7b4fbfe9b927d"}),
    # The stylesheet loads its icon fonts from ../fonts/.
    "bootstrap": Package("bootstrap", "3.1.1",
                         "23b27da4dd80b8fbe8972ac4be87037627e007ad5dd1edb27435844f0a4646a0", {
                             "dist/js/bootstrap.min.js":
                             "898d05a17f2cfc5120ddcdba47a885c378c0b466f30f0700e502757e24b403a1",
                             "dist/css/bootstrap.min.css":
                             "e9503448692b738dd260fbd7f7cabf2e11f09b600fa97e6eb3a56eba5b1a7e9b",
                             "dist/fonts/glyphicons-halflings-regular.eot":
                             "f495f34e4f177cf0115af995bbbfeb3fcabc88502876e76fc51a4ab439bc8431",
                             "dist/fonts/glyphicons-halflings-regular.svg":
                             "d168d50a88c730b4e6830dc0da2a2b51dae4658a77d9619943c27b8ecfc19d1a",
                             "dist/fonts/glyphicons-halflings-regular.ttf":
                             "bd18efd3efd70fec8ad09611a20cdbf99440b2c1d40085c29be036f891d65358",
                             "dist/fonts/glyphicons-halflings-regular.woff":
                             "fc969dc1c6ff531abcf368089dcbaf5775133b0626ff56b52301a059fc0f9e1e"}),
}

#: The CDN URLs asv 0.6.6's index.html names -> (package, file in it).
CDN_FILES = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js":
        ("flot", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars", "js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap", "dist/css/bootstrap.min.css"),
}

#: A <script src=...> or <link href=...> tag whose URL is absolute (http, https or //).
CDN_TAG = re.compile(
    r'<(?:script|link)\b[^>]*?\b(?:src|href)="(?P<url>(?:https?:)?//[^"]+)"[^>]*>', re.S)


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


def sri_of(data):
    """A Subresource Integrity value (``sha256-<base64>``) for the bytes ``data``."""
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def download(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def package_problems(package, assets_dir):
    """What is missing or altered of ``package``'s files under ``assets_dir``: [text]."""
    problems = []
    for member, digest in package.files.items():
        path = Path(assets_dir) / package.folder / member
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif sha256_of(path.read_bytes()) != digest:
            problems.append(f"{path} does not have the pinned sha256 {digest}")
    return problems


def assets_present(assets_dir=DEFAULT_ASSETS_DIR):
    return all(not package_problems(p, assets_dir) for p in PACKAGES.values())


def fetch_package(package, assets_dir, fetch=download):
    """Download ``package``'s tarball, check its sha256, and unpack the files it is used for."""
    data = fetch(package.tarball_url)
    digest = sha256_of(data)
    if digest != package.tarball_sha256:
        raise AssetError(f"{package.tarball_url}: sha256 {digest}, pinned {package.tarball_sha256}; "
                         "not used")
    target = Path(assets_dir) / package.folder
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, want in package.files.items():
            try:
                content = archive.extractfile(f"package/{member}").read()
            except (KeyError, AttributeError):
                raise AssetError(f"{package.tarball_url} has no file package/{member}") from None
            if sha256_of(content) != want:
                raise AssetError(f"{package.tarball_url}: package/{member} has sha256 "
                                 f"{sha256_of(content)}, pinned {want}")
            path = target / member
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


def fetch_assets(assets_dir=DEFAULT_ASSETS_DIR, fetch=download):
    """Fetch every package not already there with its pinned digests. Returns the fetched names."""
    fetched = []
    for name, package in PACKAGES.items():
        if package_problems(package, assets_dir):
            fetch_package(package, assets_dir, fetch)
            fetched.append(name)
    return fetched


def _set_attribute(tag, name, value):
    pattern = re.compile(rf'\b{name}="[^"]*"')
    if pattern.search(tag):
        return pattern.sub(f'{name}="{value}"', tag, count=1)
    return tag.replace(">", f' {name}="{value}">', 1)


def localize_dashboard(html_dir, assets_dir=DEFAULT_ASSETS_DIR):
    """Point asv's published ``index.html`` at local copies of its CDN libraries.

    Copies the files into ``html_dir/vendor/<package>-<version>/`` and rewrites
    each CDN tag's URL and integrity; nothing else of the page changes. Returns
    the list of rewritten URLs ([] when already done). Raises AssetError when
    the assets are missing or altered, or when the page names a CDN URL this
    module does not know (another asv version): that page would not open offline.
    """
    html_dir, assets_dir = Path(html_dir), Path(assets_dir)
    index = html_dir / "index.html"
    if not index.is_file():
        raise AssetError(f"{index} does not exist (asv publish has not run)")
    page = index.read_text()
    if MARK in page:
        return []
    problems = [text for p in PACKAGES.values() for text in package_problems(p, assets_dir)]
    if problems:
        raise AssetError(f"dashboard assets incomplete: {problems[0]} (scripts/bootstrap fetches them)")
    unknown = sorted({m.group("url") for m in CDN_TAG.finditer(page)} - set(CDN_FILES))
    if unknown:
        raise AssetError(f"{index} loads {', '.join(unknown)}, which "
                         "scripts/pyhfbench/dashboard_assets.py has no local copy of")
    for package in PACKAGES.values():
        for member in package.files:
            target = html_dir / VENDOR / package.folder / member
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(assets_dir / package.folder / member, target)
    rewritten = []

    def rewrite(match):
        url = match.group("url")
        name, member = CDN_FILES[url]
        package = PACKAGES[name]
        local = f"{VENDOR}/{package.folder}/{member}"
        tag = match.group(0).replace(f'"{url}"', f'"{local}"', 1)
        if "integrity=" in tag:
            tag = _set_attribute(tag, "integrity", sri_of((assets_dir / package.folder / member).read_bytes()))
        rewritten.append(url)
        return tag

    page = CDN_TAG.sub(rewrite, page)
    page = page.replace("<head>", "<head>\n    " + MARK, 1)
    index.write_text(page)
    return rewritten


def offline_dashboard(html_dir, assets_dir=DEFAULT_ASSETS_DIR, say=print):
    """``localize_dashboard`` where the assets are there; otherwise one line saying so.

    Returns True when the page loads its libraries locally.
    """
    if not assets_present(assets_dir):
        say(f"Dashboard assets not in {assets_dir} (scripts/bootstrap fetches them): "
            f"{Path(html_dir) / 'index.html'} loads its JavaScript from CDNs and needs internet")
        return False
    try:
        localize_dashboard(html_dir, assets_dir)
    except AssetError as err:
        say(f"Dashboard left loading its JavaScript from CDNs: {err}")
        return False
    return True


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m pyhfbench.dashboard_assets",
        description="The JavaScript and CSS of asv's dashboard, pinned by sha256: fetch them "
        "from the npm registry, check them, or point a published html/ at local copies.",
    )
    parser.add_argument("--assets-dir", type=Path, default=DEFAULT_ASSETS_DIR,
                        help=f"where they are kept (default: {DEFAULT_ASSETS_DIR})")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download what is missing (scripts/bootstrap runs this)")
    sub.add_parser("check", help="exit 1 unless every file is there with its pinned digest")
    localize = sub.add_parser("localize", help="point HTML_DIR/index.html at local copies")
    localize.add_argument("html_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetched = fetch_assets(args.assets_dir)
            if fetched:
                print(f"dashboard assets: fetched {', '.join(fetched)} into {args.assets_dir}")
            return 0
        if args.command == "check":
            problems = [t for p in PACKAGES.values() for t in package_problems(p, args.assets_dir)]
            for text in problems:
                print(text, file=sys.stderr)
            return 1 if problems else 0
        rewritten = localize_dashboard(args.html_dir, args.assets_dir)
        print(f"{args.html_dir / 'index.html'}: {len(rewritten)} CDN URLs now load from {VENDOR}/")
        return 0
    except (AssetError, OSError) as err:
        print(f"dashboard assets: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
