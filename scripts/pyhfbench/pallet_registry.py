"""The host's side of the pallets: registering, verifying and describing them (scripts/pallets).

``benchmarks/support/pallets.py`` holds what the benchmarks use inside asv's
per-commit environments (the registry, fetching, the cache, loading); this
module holds what only ``scripts/pallets`` (``pallets_cli.py``) does with it:

* ``add``: register a new pallet from a DOI, a URL or a local file, and put it
  in the cache; writes the registry (``$PYHF_BENCH_REGISTRY``, else
  ``pallets/registry.json``);
* ``verify``: check a cached pallet against the registry and its manifest;
* ``describe``: channels, bins, parameters, modifiers and patches of a likelihood key.

Errors are ``pallets.PalletError``, as everywhere else.
"""

import json
import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.support import generate, pallets  # noqa: E402
from benchmarks.support.pallets import PalletError  # noqa: E402


# --- registering a pallet ----------------------------------------------------------------------

def add(name, source, workspace=None, patches=None, patchset=None, size="full", force=False,
        **metadata):
    """Register a new pallet from a DOI, a URL or a local file, and put it in the cache.

    Downloads or copies ``source``, records its sha256, unpacks it safely,
    finds the background-only workspace(s) and patches (or takes ``workspace``,
    a list of paths inside, and ``patches``/``patchset``), validates all of them
    against pyhf's schemas, records their digests, and writes the entry into
    the registry. ``metadata``: title, analysis, publication, doi, url. Returns
    the new entry. On any error neither the registry nor the cache changes.
    """
    path = pallets.registry_path()
    registry = pallets.load_registry(path)
    if not name or "/" in name or name.startswith("."):
        raise PalletError(f"{name!r} is not a usable pallet name (no '/', not empty)")
    if name in registry["pallets"] and not force:
        raise PalletError(f"{path}: pallet {name!r} exists already (use --force to replace it)")
    source = str(source)
    doi = metadata.get("doi")
    if source.startswith("10."):
        doi, url = source, f"https://doi.org/{source}"
    elif source.startswith(("http://", "https://")):
        url = source
    else:
        url = None
        if not Path(source).is_file():
            raise PalletError(f"{source}: no such file (give a DOI, a URL or a local archive or JSON file)")
    url = metadata.get("url", url)
    with pallets._staging(name) as staging:
        fetched = staging / "published"
        if Path(source).is_file():
            shutil.copyfile(source, fetched)
            archive = Path(source).name
        else:
            pallets.download(url, fetched)
            stem = doi.split("/", 1)[-1].replace("/", "_") + f"_{name}" if doi else name
            archive = stem + _kind_of(fetched)
        published = staging / archive
        fetched.replace(published)
        probe = staging / "probe"
        try:
            pallets.unpack(published, probe, pallets.MAX_UNPACKED_BYTES)
        except PalletError as err:  # named as the user gave it, not as the staged copy
            raise PalletError(str(err).replace(str(published), source, 1)) from None
        likelihoods_found = _detect_likelihoods(probe, workspace, patches, patchset, size)
        for likelihood in likelihoods_found.values():  # before anything is registered
            found = probe / likelihood["workspace"]
            # Named as the user knows it: the file given, and the workspace inside an archive.
            label = source if archive.endswith(".json") else f"{source}: {likelihood['workspace']}"
            if not found.is_file():
                raise PalletError(f"{label}: no such workspace")
            try:
                check_model(pallets._read_json(found, "JSON"), label)
            except PalletError as err:
                raise PalletError(str(err).replace(str(found), str(label))) from None
        shutil.rmtree(probe)
        entry = {
            "type": "json" if archive.endswith(".json") else "archive",
            "title": metadata.get("title") or f"added by scripts/pallets add from {source}",
            "analysis": metadata.get("analysis"), "publication": metadata.get("publication"),
            "doi": doi, "url": url, "archive": archive, "sha256": pallets.sha256_of(published),
            "likelihoods": likelihoods_found,
        }
        pallets.check_entry(name, entry, path)
        manifest = pallets._install(name, entry, published, source, staging, validate_patches=True)
        for lname, found in manifest["likelihoods"].items():
            entry["likelihoods"][lname]["digest"] = found["digest"]
        _write_registry_entry(path, name, entry)
    return entry


def _kind_of(path):
    """The file name extension for a published file: .tar.gz, .tar, .zip or .json."""
    with open(path, "rb") as stream:
        magic = stream.read(4)
    if magic[:2] == b"\x1f\x8b":
        return ".tar.gz"
    if zipfile.is_zipfile(path):
        return ".zip"
    if tarfile.is_tarfile(path):
        return ".tar"
    return ".json"


def _detect_likelihoods(tree, workspace=None, patches=None, patchset=None, size="full"):
    """Likelihood entries for an unpacked pallet: the workspaces given, or every
    ``*BkgOnly*.json`` (or the only JSON file), each with the ``patchset.json`` or
    ``patch.*.json`` files beside it, else synthetic signals."""
    if workspace:
        found = [tree / path for path in workspace]
    else:
        files = sorted(path for path in tree.rglob("*.json") if path.is_file())
        found = [path for path in files if "bkgonly" in path.name.lower()]
        found = found or (files if len(files) == 1 else [])
    if not found:
        raise PalletError(f"{tree}: no background-only workspace found; name it with --workspace")
    entries = {}
    for path in found:
        relative = path.relative_to(tree)
        folder = relative.parent.as_posix()
        inside = "" if folder == "." else folder + "/"
        lname = folder.replace("/", "-") if folder != "." else path.stem
        likelihood = {"workspace": relative.as_posix(), "size": size}
        if patchset or (tree / inside / "patchset.json").is_file():
            likelihood["patchset"] = patchset or inside + "patchset.json"
        elif patches or any((tree / folder).glob("patch.*.json")):
            likelihood["patches"] = patches or inside + "patch.*.json"
        else:
            likelihood["synthetic_signals"] = {"count": 5, "seed": 0}
        entries[lname] = likelihood
    return entries


def _write_registry_entry(path, name, entry):
    """Add or replace one entry in the registry file, atomically."""
    registry = pallets._read_json(path, "registry")
    registry["pallets"][name] = entry
    tmp = Path(f"{path}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(registry, indent=2) + "\n")
    tmp.replace(path)


# --- checking and describing -------------------------------------------------------------------

def check_model(spec, label):
    """What pyhf itself would reject at model build, before the benchmarks meet it: the numbers
    (``pallets.check_physics``: finite, non-negative yields and observations), then the model
    built (mismatched bins, unknown modifiers...). PalletError naming ``label`` and the field."""
    import pyhf

    validate = getattr(getattr(pyhf, "schema", None), "validate", None) or pyhf.utils.validate
    try:  # the schema first: its message says more than the model's
        validate(spec, "workspace.json")
    except pyhf.exceptions.InvalidSpecification as err:
        raise PalletError(f"{label}: fails pyhf's workspace.json schema: {err}") from None
    pallets.check_physics(spec, label)
    try:
        pyhf.Workspace(spec).model(poi_name=None)
    except Exception as err:  # pyhf raises InvalidModel, InvalidSpecification, ValueError...
        raise PalletError(f"{label}: pyhf cannot build its model: {type(err).__name__}: "
                          f"{err}") from None


def verify(name):
    """Check a cached pallet: its file's sha256 against the registry, every unpacked file
    against the manifest, and every workspace and patch against pyhf's schemas.
    Returns the manifest; raises PalletError on the first problem."""
    entry = pallets.pallet_entry(name)
    if entry["type"] == "generated":
        import pyhf

        for lname, likelihood in entry["likelihoods"].items():
            spec = generate.workspace(**likelihood["generator"])
            pallets._validate_spec(spec, f"generated {name}/{lname}")
            check_model(spec, f"generated {name}/{lname}")
            if likelihood.get("digest") not in (None, pyhf.utils.digest(spec)):
                raise PalletError(f"generated {name}/{lname}: digest differs from the registry's: "
                                  "the generator changed; update the registry")
        return None
    folder = pallets.pallet_dir(name)
    manifest = pallets.read_manifest(name)
    if manifest is None:
        raise PalletError(f"{folder}: pallet {name!r} is not in the cache; fetch it first")
    published = folder / ".archive" / entry["archive"]
    digest = pallets.sha256_of(published) if published.is_file() else None
    if entry["sha256"] is not None and digest != entry["sha256"]:
        raise PalletError(f"{published}: sha256 {digest} differs from the registry's {entry['sha256']}")
    files = pallets._file_digests(folder)
    for path, expected in manifest["files"].items():
        if files.get(path) != expected:
            raise PalletError(f"{folder / path}: changed or missing since it was fetched")
    pallets.check_tree(name, entry, folder, patches=True)
    for likelihood in entry["likelihoods"].values():
        path = folder / likelihood["workspace"]
        check_model(pallets._read_json(path, "workspace"), path)
    return manifest


def describe(key):
    """A summary of a likelihood key: channels, bins, parameters, modifiers, patches, source."""
    model, _ = pallets.load_model(key)
    modifiers, parameters = {}, {}
    for name, kind in model.config.modifiers:
        modifiers[kind] = modifiers.get(kind, 0) + 1
        width = model.config.par_slice(name)
        parameters[kind] = parameters.get(kind, 0) + width.stop - width.start
    names = pallets.patch_names(key)
    _, _, entry, likelihood = pallets.resolve(key)
    return {
        "key": key, "label": pallets.label(key), "size": likelihood["size"],
        "channels": len(model.config.channels), "bins": model.config.nmaindata,
        "parameters": model.config.npars, "samples": len(model.config.samples),
        "modifiers": modifiers, "parameters_by_modifier": parameters,
        "patches": len(names),
        "synthetic_patches": bool(names) and pallets.is_synthetic(key, names[0]),
        "signal_patch": pallets.signal_patch(key) if names else None,
        "reference_results": sorted(likelihood.get("reference_results") or {}),
        "doi": entry.get("doi"),
    }
