"""Published likelihoods ("pallets") for the benchmarks: registry, fetching, cache and loading.

A pallet is one LHC analysis's published likelihoods: a background-only
HistFactory workspace and one JSON Patch per signal hypothesis. The registry
``pallets/registry.json`` (see ``pallets/README.md``) lists every pallet: where
to download it (HEPData DOI and URL), the sha256 of the published file, where
the workspaces and patches are inside it, and published reference results.

A *likelihood key* names one background-only workspace: ``"<pallet>"`` when the
pallet has one, ``"<pallet>/<name>"`` when it has several ("sbottom/RegionA",
"generated/small").

Fetching copies the published file from a local mirror folder (argument
``mirror``, else ``$PYHF_BENCH_PALLET_MIRROR``) or downloads it from its URL,
checks its sha256 against the registry, unpacks it safely into a staging folder
inside the cache and renames that into place, so an interrupted or refused
fetch leaves the cache as it was. The cache is ``$PYHF_BENCH_CACHE``
(default ``~/.cache/pyhf-benchmarks``); pallet ``X`` lives in ``pallets/X``
with the published file and a manifest of digests.

Loading (``load_workspace``, ``load_patch``, ``load_model``) parses once per
process and fetches on first use, so benchmarks never time it. Models are
built anew with the current backend, never cached.

Registering a new pallet (``add``), checking a cached one (``verify``) and
describing a likelihood are done on the host only, by ``scripts/pallets``:
they are in ``scripts/pyhfbench/pallet_registry.py``.

Only the standard library, pyhf and its dependencies are imported here: asv
imports this module inside every per-commit environment.
"""

import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from http.client import HTTPException
from pathlib import Path, PurePosixPath

from . import generate, pyhf_compat, safe_extract, settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REGISTRY = REPO_ROOT / "pallets" / "registry.json"
MANIFEST = ".pallet.json"
SIZES = ("quick", "full")
#: Default cap on the unpacked size of an archive (overridable per pallet: "max_unpacked_bytes").
MAX_UNPACKED_BYTES = 4 * 1024**3

#: Fields every registry entry must have (a value may be null where noted in the README).
REQUIRED = {
    "archive": ("title", "analysis", "publication", "doi", "url", "archive", "sha256", "likelihoods"),
    "json": ("title", "analysis", "publication", "doi", "url", "archive", "sha256", "likelihoods"),
    "generated": ("title", "likelihoods"),
}
REQUIRED_LIKELIHOOD = {"archive": ("workspace", "size"), "json": ("workspace", "size"),
                       "generated": ("generator", "size")}


class PalletError(Exception):
    """A pallet could not be found, fetched, verified or loaded; the message says which file and why."""


# --- the registry ------------------------------------------------------------------------------

def registry_path():
    """The registry file: ``$PYHF_BENCH_REGISTRY``, else ``pallets/registry.json`` in the repository."""
    return settings.registry_file() or DEFAULT_REGISTRY


def _read_json(path, what="JSON"):
    try:
        with open(path, "rb") as stream:
            return json.load(stream)
    except FileNotFoundError:
        raise PalletError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PalletError(f"{path}: malformed {what}: {err}") from None
    except RecursionError:
        raise PalletError(f"{path}: malformed {what}: nested too deeply to read") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise PalletError(f"{path}: malformed {what}: {err}") from None


@functools.lru_cache(maxsize=8)
def _registry_cached(path, mtime_ns):
    registry = _read_json(path, "registry")
    check_registry(registry, path)
    return registry


def load_registry(path=None):
    """The registry as a dict (checked: every entry has its required fields)."""
    path = Path(path or registry_path())
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise PalletError(f"{path}: no such registry file") from None
    return _registry_cached(str(path), mtime)


def check_registry(registry, path="registry"):
    """Raise PalletError naming the entry and the field if an entry lacks a required field."""
    pallets = registry.get("pallets") if isinstance(registry, dict) else None
    if not isinstance(pallets, dict):
        raise PalletError(f"{path}: missing field 'pallets' (an object of pallet entries)")
    for name, entry in pallets.items():
        check_entry(name, entry, path)


def check_entry(name, entry, path="registry"):
    """Check one pallet entry; see REQUIRED and REQUIRED_LIKELIHOOD."""
    where = f"{path}: pallet {name!r}"
    if not isinstance(entry, dict):
        raise PalletError(f"{where}: an entry must be an object")
    kind = entry.get("type")
    if kind not in REQUIRED:
        raise PalletError(f"{where}: missing or unknown field 'type' (one of {', '.join(REQUIRED)})")
    for field in REQUIRED[kind]:
        if field not in entry:
            raise PalletError(f"{where}: missing field {field!r}")
    if not isinstance(entry["likelihoods"], dict):
        raise PalletError(f"{where}: field 'likelihoods' must be an object")
    if not entry["likelihoods"] and (kind == "generated" or entry["sha256"]):
        # Empty only for a pallet known by DOI whose layout is not recorded yet.
        raise PalletError(f"{where}: field 'likelihoods' must name at least one workspace")
    for lname, likelihood in entry["likelihoods"].items():
        for field in REQUIRED_LIKELIHOOD[kind]:
            if field not in likelihood:
                raise PalletError(f"{where}: likelihood {lname!r}: missing field {field!r}")
        if likelihood["size"] not in SIZES:
            raise PalletError(f"{where}: likelihood {lname!r}: size must be one of {SIZES}")


def pallet_entry(name, registry=None):
    """The registry entry of pallet ``name``."""
    registry = registry or load_registry()
    try:
        return registry["pallets"][name]
    except KeyError:
        raise PalletError(
            f"{registry_path()}: unknown pallet {name!r}; known: {', '.join(registry['pallets'])}"
        ) from None


def keys_of(name, entry):
    """The likelihood keys of one pallet entry."""
    lnames = list(entry["likelihoods"])
    return [name] if len(lnames) == 1 else [f"{name}/{lname}" for lname in lnames]


def resolve(key, registry=None):
    """(pallet name, likelihood name, pallet entry, likelihood entry) of a likelihood key."""
    registry = registry or load_registry()
    name, _, lname = key.partition("/")
    entry = pallet_entry(name, registry)
    likelihoods = entry["likelihoods"]
    if not lname and len(likelihoods) == 1:
        lname = next(iter(likelihoods))
    if lname not in likelihoods:
        raise PalletError(
            f"unknown likelihood {key!r}; pallet {name!r} has: {', '.join(keys_of(name, entry))}"
        )
    return name, lname, entry, likelihoods[lname]


def likelihoods(size="quick"):
    """Keys of the likelihoods of size class ``size`` ("quick" or "full", quick within full)
    that can be obtained here: generated ones, cached ones, those in the mirror, and those
    with a URL and a pinned sha256. Reads only the registry and the file system."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    registry = load_registry()
    keys = []
    for name, entry in registry["pallets"].items():
        if not obtainable(name, entry):
            continue
        for key, likelihood in zip(keys_of(name, entry), entry["likelihoods"].values()):
            if size == "full" or likelihood["size"] == "quick":
                keys.append(key)
    return keys


def obtainable(name, entry=None):
    """Whether pallet ``name`` can be loaded here without asking anyone for a file."""
    entry = entry or pallet_entry(name)
    if entry["type"] == "generated" or is_cached(name, entry):
        return True
    mirror = mirror_dir()
    if mirror is not None and (mirror / entry["archive"]).is_file():
        return True
    return bool(entry["url"] and entry["sha256"])


# --- the cache ---------------------------------------------------------------------------------

def cache_dir():
    """The cache folder: ``$PYHF_BENCH_CACHE``, default ``~/.cache/pyhf-benchmarks``."""
    return settings.cache_dir()


def mirror_dir(mirror=None):
    """The local mirror folder: ``mirror``, else ``$PYHF_BENCH_PALLET_MIRROR``, else None."""
    if mirror:
        return Path(mirror).expanduser()
    return settings.pallet_mirror()


def pallet_dir(name):
    """Where pallet ``name`` is (or would be) unpacked in the cache."""
    return cache_dir() / "pallets" / name


def read_manifest(name):
    """The manifest of cached pallet ``name`` (sha256, source, file digests), or None."""
    path = pallet_dir(name) / MANIFEST
    return _read_json(path, "manifest") if path.is_file() else None


def is_cached(name, entry=None):
    """Whether pallet ``name`` is in the cache, from the archive the registry pins."""
    entry = entry or pallet_entry(name)
    if entry["type"] == "generated":
        return False
    manifest = read_manifest(name)
    return manifest is not None and entry["sha256"] in (None, manifest.get("sha256"))


def sha256_of(path):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_or_download(entry, dest, mirror=None, url=None):
    """Put the pallet's published file at ``dest``; return where it came from."""
    mirror = mirror_dir(mirror)
    if url is None and mirror is not None:
        source = mirror / entry["archive"]
        if not source.is_file():
            where = "" if mirror.is_absolute() else (
                f" (a relative path, read from {os.getcwd()}: asv runs benchmarks elsewhere;"
                " give the mirror as an absolute path)")
            raise PalletError(f"{source}: not in the mirror {mirror}{where}")
        shutil.copyfile(source, dest)
        return str(source)
    url = url or entry["url"]
    if not url:
        raise PalletError(
            f"{entry['archive']}: the registry has no URL for it; give a mirror folder "
            "(--mirror or $PYHF_BENCH_PALLET_MIRROR) that holds it"
        )
    download(url, dest, entry.get("max_download_bytes", MAX_UNPACKED_BYTES))
    return url


def download(url, dest, max_bytes=MAX_UNPACKED_BYTES):
    """Download ``url`` to ``dest`` (HEPData content negotiation as in pyhf contrib download)."""
    request = urllib.request.Request(url, headers={
        "Accept": "application/x-tar, application/zip, application/json;q=0.9, */*;q=0.1",
        "User-Agent": "pyhf-benchmarks",
    })
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=120) as response, open(dest, "wb") as out:
            expected = response.headers.get("Content-Length")
            for block in iter(lambda: response.read(1 << 20), b""):
                received += len(block)
                if received > max_bytes:
                    raise PalletError(f"{url}: larger than the cap of {max_bytes} bytes")
                out.write(block)
    except (urllib.error.URLError, HTTPException, OSError) as err:
        raise PalletError(f"{url}: download failed after {received} bytes: {err}") from None
    if expected is not None and received != int(expected):
        raise PalletError(f"{url}: download truncated: {received} of {expected} bytes")


def _refuse(archive, member, why):
    raise PalletError(f"{archive}: entry {member!r} {why}; nothing was extracted")


def _check_member_name(archive, name, target=None):
    """Refuse absolute paths and ``..``; ``target`` is a link's target relative to the root."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and ":" in path.parts[0]):
        _refuse(archive, name, "has an absolute path")
    if ".." in path.parts:
        _refuse(archive, name, "escapes the target folder with '..'")
    if target is not None:
        # Normalise the link target lexically from the archive root; it must stay inside.
        depth = 0
        for part in PurePosixPath(target).parts:
            if part == "/" or ":" in part:
                _refuse(archive, name, f"links to the absolute path {target!r}")
            depth += -1 if part == ".." else (0 if part == "." else 1)
            if depth < 0:
                _refuse(archive, name, f"links to {target!r}, outside the target folder")


def _extracting(dest, extract):
    """Run ``extract`` into the new folder ``dest``; on a refusal or error leave it empty."""
    try:
        extract()
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        raise


def unpack(archive, dest, max_bytes=MAX_UNPACKED_BYTES):
    """Safely unpack a tar, zip or single JSON file into the new folder ``dest``.

    Refuses, before writing anything, entries with absolute paths or ``..``,
    links that point outside ``dest``, devices, and a total size over ``max_bytes``.
    """
    archive = Path(archive)
    dest.mkdir(parents=True)
    if archive.name.endswith(".json"):
        shutil.copyfile(archive, dest / archive.name)
        return
    try:
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                members = tar.getmembers()  # reads the whole archive: finds truncation early
                total = 0
                for member in members:
                    target = None
                    if member.issym():
                        target = str(PurePosixPath(member.name).parent / member.linkname)
                    elif member.islnk():
                        target = member.linkname
                    elif not (member.isfile() or member.isdir()):
                        _refuse(archive, member.name, "is not a file, folder or link")
                    _check_member_name(archive, member.name, target)
                    total += member.size
                if total > max_bytes:
                    raise PalletError(f"{archive}: unpacks to {total} bytes, over the cap of {max_bytes}")
                # Each member resolved against the real folder, links followed (a chain of
                # links passes the lexical check above); Python's "data" filter on top.
                _extracting(dest, lambda: safe_extract.extract_tar(
                    tar, members, dest, lambda member, why: _refuse(archive, member, why)))
        elif zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                infos = zipped.infolist()
                for info in infos:
                    _check_member_name(archive, info.filename)
                total = sum(info.file_size for info in infos)
                if total > max_bytes:
                    raise PalletError(f"{archive}: unpacks to {total} bytes, over the cap of {max_bytes}")
                _extracting(dest, lambda: safe_extract.extract_zip(
                    zipped, infos, dest, lambda member, why: _refuse(archive, member, why)))
        else:
            raise PalletError(f"{archive}: not a tar, zip or JSON file")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise PalletError(f"{archive}: truncated or corrupt archive: {err}") from None


def _validate_json(path, schema):
    """Parse ``path`` and validate it against pyhf's ``schema``; errors name the file."""
    import pyhf

    spec = _read_json(path)
    validate = getattr(getattr(pyhf, "schema", None), "validate", None) or pyhf.utils.validate
    try:
        validate(spec, schema)
    except pyhf.exceptions.InvalidSpecification as err:
        raise PalletError(f"{path}: fails pyhf's {schema} schema: {err}") from None
    return spec


def _not_physical(value, negative=False):
    """Why ``value`` cannot be a yield (``negative``: a sign is allowed), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "infinite"
    if value < 0 and not negative:
        return "negative"
    return None


def _check_numbers(values, label, what, negative=False):
    for i, value in enumerate(values if isinstance(values, list) else [values]):
        why = _not_physical(value, negative)
        if why:
            raise PalletError(f"{label}: {what}, bin {i}: {value!r} is {why}")


def check_sample(sample, label):
    """A sample's yields (finite, not negative) and its modifiers' numbers (finite; the
    uncertainties of staterror and shapesys not negative); PalletError naming the field."""
    _check_numbers(sample.get("data", []), label, "yield")
    for modifier in sample.get("modifiers", []) or []:
        kind, data = modifier.get("type"), modifier.get("data")
        where = f"modifier {modifier.get('name')!r} ({kind})"
        if kind in ("staterror", "shapesys"):
            _check_numbers(data or [], label, f"{where} uncertainty")
        elif kind == "histosys" and isinstance(data, dict):
            for side in ("hi_data", "lo_data"):
                _check_numbers(data.get(side, []), label, f"{where} {side}", negative=True)
        elif kind == "normsys" and isinstance(data, dict):
            for side in ("hi", "lo"):
                _check_numbers(data.get(side, 1.0), label, f"{where} {side}", negative=True)


def check_physics(spec, label):
    """Raise PalletError, naming the channel, sample and bin, where a workspace holds what no
    model can take: a NaN, infinite or negative yield or observation, a NaN or negative
    uncertainty (the schema accepts them all as numbers; ``1e999999`` reads as infinite)."""
    for channel in spec.get("channels", []):
        for sample in channel.get("samples", []):
            check_sample(sample, f"{label}: channel {channel.get('name')!r}, sample "
                                 f"{sample.get('name')!r}")
    bins = {channel.get("name"): len(channel["samples"][0].get("data", []))
            for channel in spec.get("channels", []) if channel.get("samples")}
    for observation in spec.get("observations", []):
        where = f"{label}: observation of channel {observation.get('name')!r}"
        _check_numbers(observation.get("data", []), where, "observed")
        expected = bins.get(observation.get("name"))
        if expected is not None and len(observation.get("data", [])) != expected:
            raise PalletError(f"{where}: {len(observation['data'])} bins, where the channel's "
                              f"samples have {expected}")


def check_patch_physics(patch, label):
    """The numbers a patch adds or replaces: finite everywhere, samples' yields not negative."""
    def walk(value, where):
        if isinstance(value, dict):
            if "data" in value and "modifiers" in value and "name" in value:
                check_sample(value, f"{label}: {where}sample {value.get('name')!r}")
            for key, item in value.items():
                walk(item, f"{where}{key}/")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}{i}/")
        elif isinstance(value, float) and not math.isfinite(value):
            raise PalletError(f"{label}: {where.rstrip('/')}: {value!r} is not finite")
    walk(patch, "")


def check_tree(name, entry, root, patches=True):
    """Validate the workspaces (and with ``patches`` every patch) of an unpacked pallet in ``root``.

    Returns {likelihood name: {"digest", "patches"}}: the workspace's
    ``pyhf.utils.digest`` and its number of patches.
    """
    import pyhf

    found = {}
    for lname, likelihood in entry["likelihoods"].items():
        spec = _validate_json(root / likelihood["workspace"], "workspace.json")
        check_physics(spec, root / likelihood["workspace"])
        digest = pyhf.utils.digest(spec)
        files = _patch_files(root, likelihood)
        if patches:
            for path in files.values():
                check_patch_physics(_validate_json(path, "jsonpatch.json"), path)
            if "patchset" in likelihood:
                path = root / likelihood["patchset"]
                patchset_spec = _validate_json(path, "patchset.json")
                check_patch_physics(patchset_spec, path)
                patchset = _patchset(path, patchset_spec)
                try:
                    patchset.verify(spec)
                except pyhf.exceptions.PatchSetVerificationError as err:
                    raise PalletError(f"{path}: does not belong to {likelihood['workspace']}: {err}") from None
        if likelihood.get("digest") and likelihood["digest"] != digest:
            raise PalletError(
                f"{root / likelihood['workspace']}: pyhf digest {digest} differs from the registry's "
                f"{likelihood['digest']} (pallet {name!r}, likelihood {lname!r})"
            )
        count = len(files) if "patches" in likelihood else None
        found[lname] = {"digest": digest, "patches": count}
    return found


def _file_digests(root):
    return {
        path.relative_to(root).as_posix(): sha256_of(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != MANIFEST and ".archive" not in path.relative_to(root).parts
    }


def fetch(name, mirror=None, url=None, force=False, allow_unpinned=False, validate_patches=False):
    """Obtain pallet ``name`` into the cache and return its folder.

    Source: ``url`` if given, else the mirror folder (``mirror`` or
    ``$PYHF_BENCH_PALLET_MIRROR``), else the registry's URL. The file's sha256
    must match the registry's (``allow_unpinned`` accepts an entry whose sha256
    is null and records what it got). On any error the cache is left as it was.
    """
    entry = pallet_entry(name)
    if entry["type"] == "generated":
        raise PalletError(f"pallet {name!r} is generated, there is nothing to fetch")
    final = pallet_dir(name)
    if not force and is_cached(name, entry):
        return final
    if not entry["likelihoods"]:
        raise PalletError(
            f"{registry_path()}: pallet {name!r} has no recorded layout; register it with "
            f"scripts/pallets add {name} <resource DOI> --force"
        )
    if entry["sha256"] is None and not allow_unpinned:
        raise PalletError(
            f"{registry_path()}: pallet {name!r} has no sha256 to verify against; fetch it with "
            "--allow-unpinned and record the printed sha256 in the registry"
        )
    with _staging(name) as staging:
        published = staging / entry["archive"]
        source = _copy_or_download(entry, published, mirror, url)
        digest = sha256_of(published)
        if entry["sha256"] is not None and digest != entry["sha256"]:
            raise PalletError(
                f"{source}: sha256 {digest} differs from the registry's {entry['sha256']} "
                f"for pallet {name!r}; refusing it"
            )
        _install(name, entry, published, source, staging, validate_patches)
    return final


@contextlib.contextmanager
def _staging(name):
    """A scratch folder inside the cache (same file system, so renames are atomic), always removed."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=root))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        clear_caches()


def _install(name, entry, published, source, staging, validate_patches=True):
    """Unpack and check ``published`` in ``staging``, then rename it into the cache."""
    tree = staging / "tree"
    unpack(published, tree, entry.get("max_unpacked_bytes", MAX_UNPACKED_BYTES))
    contents = check_tree(name, entry, tree, patches=validate_patches)
    manifest = {"pallet": name, "archive": entry["archive"], "sha256": sha256_of(published),
                "source": str(source), "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "likelihoods": contents, "files": _file_digests(tree)}
    (tree / ".archive").mkdir()
    published.replace(tree / ".archive" / entry["archive"])
    (tree / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    _place(tree, pallet_dir(name), staging)
    return manifest


def _place(tree, final, staging):
    """Rename ``tree`` to ``final``; a previous copy is moved aside first and deleted later."""
    final.parent.mkdir(parents=True, exist_ok=True)
    previous = staging / "previous"
    if final.exists():
        final.replace(previous)
    try:
        tree.replace(final)
    except OSError:
        if final.exists():  # another process placed the same pallet first: keep its copy
            return
        if previous.exists():
            previous.replace(final)
        raise


def ensure(name, mirror=None):
    """The cached folder of pallet ``name``, fetched first if needed."""
    entry = pallet_entry(name)
    return pallet_dir(name) if is_cached(name, entry) else fetch(name, mirror)


def _validate_spec(spec, label):
    import pyhf

    try:
        return pyhf.Workspace(spec)
    except pyhf.exceptions.InvalidSpecification as err:
        raise PalletError(f"{label}: fails pyhf's workspace schema: {err}") from None


# --- loading for the benchmarks ----------------------------------------------------------------

def clear_caches():
    """Forget everything parsed in this process (registry, workspaces, patches)."""
    for cached in (_registry_cached, load_workspace, _patch_index, _synthetic_patches, _patchset_of):
        cached.cache_clear()


@functools.lru_cache(maxsize=None)
def load_workspace(key):
    """The background-only ``pyhf.Workspace`` of a likelihood key (fetched on first use, cached)."""
    name, lname, entry, likelihood = resolve(key)
    if entry["type"] == "generated":
        return _validate_spec(generate.workspace(**likelihood["generator"]), f"generated {key}")
    path = ensure(name) / likelihood["workspace"]
    import pyhf

    try:
        return pyhf.Workspace(_read_json(path))
    except pyhf.exceptions.InvalidSpecification as err:
        raise PalletError(f"{path}: fails pyhf's workspace schema: {err}") from None


def _patch_files(root, likelihood):
    """{patch name: file} for a likelihood whose patches are files matched by a ``*`` pattern."""
    pattern = likelihood.get("patches")
    if not pattern:
        return {}
    prefix, _, suffix = pattern.partition("*")
    files = {}
    for path in sorted(root.glob(pattern)):
        relative = path.relative_to(root).as_posix()
        files[relative[len(prefix):len(relative) - len(suffix)]] = path
    return files


def _patchset(path, spec):
    import pyhf

    try:
        return pyhf.PatchSet(spec)
    except pyhf.exceptions.InvalidSpecification as err:
        raise PalletError(f"{path}: fails pyhf's patchset schema: {err}") from None


@functools.lru_cache(maxsize=None)
def _patchset_of(key):
    name, _, _, likelihood = resolve(key)
    path = ensure(name) / likelihood["patchset"]
    return _patchset(path, _read_json(path))


@functools.lru_cache(maxsize=None)
def _synthetic_patches(key):
    _, _, _, likelihood = resolve(key)
    options = likelihood.get("synthetic_signals") or {}
    return generate.signal_patches(dict(load_workspace(key)), **options)


@functools.lru_cache(maxsize=None)
def _patch_index(key):
    """{patch name: file path or None} of a likelihood key, in a stable order."""
    name, _, entry, likelihood = resolve(key)
    if "patches" in likelihood:
        return _patch_files(ensure(name), likelihood)
    if "patchset" in likelihood:
        return {patch.name: None for patch in _patchset_of(key).patches}
    if entry["type"] == "generated" or "synthetic_signals" in likelihood:
        count = (likelihood.get("synthetic_signals") or {}).get("count", 5)
        return {patch: None for patch in generate.signal_patch_names(count)}
    return {}


def patch_names(key):
    """Names of the signal patches of a likelihood key (synthetic ones where none were published)."""
    return list(_patch_index(key))


def load_patch(key, name):
    """The patch ``name`` of a likelihood key, usable in ``workspace.model(patches=[...])``."""
    index = _patch_index(key)
    if name not in index:
        known = list(index)
        shown = ", ".join(known[:5]) + (f", ... ({len(known)} in all)" if len(known) > 5 else "")
        raise PalletError(f"{key}: unknown patch {name!r}; known: {shown or 'none'}")
    _, _, _, likelihood = resolve(key)
    if index[name] is not None:
        spec = _read_json(index[name], "patch")
        return spec
    if "patchset" in likelihood:
        return _patchset_of(key)[name]
    return _synthetic_patches(key)[name]


def signal_patch(key):
    """The representative signal patch of a likelihood key for hypothesis tests.

    The registry's ``signal_patch`` if given (the published reference point),
    else the middle synthetic signal (CLs of order 0.1 at mu = 1), else the first patch.
    """
    _, _, _, likelihood = resolve(key)
    if likelihood.get("signal_patch"):
        return likelihood["signal_patch"]
    names = patch_names(key)
    if not names:
        raise PalletError(f"{key}: has no signal patches")
    return names[len(names) // 2] if generate.is_synthetic_name(names[0]) else names[0]


def reference_results(key, patch_name):
    """Published results for a patch: {"cls_obs": ..., "cls_exp": [...], ...}, or None."""
    _, _, _, likelihood = resolve(key)
    return (likelihood.get("reference_results") or {}).get(patch_name)


def is_synthetic(key, patch_name=None):
    """Whether results on this key and patch are synthetic: a generated workspace, or a
    synthetic signal on a real background model. Label such results."""
    _, _, entry, _ = resolve(key)
    return entry["type"] == "generated" or (
        patch_name is not None and generate.is_synthetic_name(patch_name)
    )


def label(key, patch_name=None):
    """A short description of what a result was computed on, for tables and plots."""
    _, _, entry, _ = resolve(key)
    if entry["type"] == "generated":
        return f"{key} (generated workspace, synthetic signal)"
    if patch_name is not None and generate.is_synthetic_name(patch_name):
        return f"{key} {patch_name} (synthetic signal on a real background model)"
    return f"{key} {patch_name}" if patch_name else f"{key} (background only)"


def load_model(key, patch_name=None, **config_kwargs):
    """(model, data) for a likelihood key, built with the current pyhf backend.

    With ``patch_name=None`` the background-only model with ``poi_name=None``
    (the published background-only workspaces declare a POI ``mu_SIG`` that
    no sample carries, so a POI model needs a signal patch: pass
    ``signal_patch(key)``, which is synthetic where none was published).
    Published interpolation settings are used unless ``modifier_settings`` is given.
    """
    workspace = load_workspace(key)
    patches = []
    if patch_name is None:
        config_kwargs.setdefault("poi_name", None)
    else:
        patches = [load_patch(key, patch_name)]
    model = pyhf_compat.model_from_workspace(workspace, patches, **config_kwargs)
    return model, workspace.data(model)
