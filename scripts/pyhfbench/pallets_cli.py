"""Command line of the pallet registry: list, fetch, verify, info, add.

The work is done by ``benchmarks/support/pallets.py`` (which the benchmarks
import too) and, for add, verify and info, by ``pallet_registry.py`` beside
this module; this module only parses arguments and prints. ``--mirror DIR``
(or ``$PYHF_BENCH_PALLET_MIRROR``) reads published files from a local folder
instead of HEPData, ``--cache DIR`` (or ``$PYHF_BENCH_CACHE``) and
``--registry FILE`` (or ``$PYHF_BENCH_REGISTRY``) choose where they go and
which registry is used.
"""

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.support import pallets, settings  # noqa: E402

from . import pallet_registry  # noqa: E402

ENVIRONMENT = {"mirror": settings.PALLET_MIRROR, "cache": settings.CACHE,
               "registry": settings.REGISTRY}


def _status(name, entry):
    if entry["type"] == "generated":
        return "generated"
    if not entry["likelihoods"]:
        return "known by DOI only (layout not recorded)"
    if pallets.is_cached(name, entry):
        return "cached"
    mirror = pallets.mirror_dir()
    if mirror is not None and (mirror / entry["archive"]).is_file():
        return "in mirror"
    if entry["url"] and entry["sha256"]:
        return "downloadable"
    if entry["url"]:
        return "registered (sha256 not pinned)"
    return "registered (no URL: mirror only)"


def cmd_list(args):
    registry = pallets.load_registry()
    usable = set(pallets.likelihoods(args.size))
    for name, entry in registry["pallets"].items():
        print(f"{name}  [{_status(name, entry)}]  {entry.get('analysis') or ''}  "
              f"{('doi:' + entry['doi']) if entry.get('doi') else ''}".rstrip())
        for key, likelihood in zip(pallets.keys_of(name, entry), entry["likelihoods"].values()):
            mark = "*" if key in usable else " "
            print(f"  {mark} {key:28s} {likelihood['size']}")
    print(f"(* = in the benchmarks' '{args.size}' list here)")
    return 0


def _targets(args, registry):
    names = args.names or [n for n, e in registry["pallets"].items()
                           if e["type"] == "generated" or pallets.is_cached(n, e)]
    for name in names:
        pallets.pallet_entry(name, registry)  # unknown names fail before any work
    return names


def cmd_fetch(args):
    registry = pallets.load_registry()
    if args.all:
        names = [n for n, e in registry["pallets"].items() if e["type"] != "generated"
                 and _status(n, e) in ("cached", "in mirror", "downloadable")]
    elif args.names:
        names = args.names
    else:
        print("pallets fetch: name one or more pallets, or --all", file=sys.stderr)
        return 2
    for name in names:
        folder = pallets.fetch(name, url=args.url, force=args.force, allow_unpinned=args.allow_unpinned)
        manifest = pallets.read_manifest(name)
        print(f"{name}: {folder} (sha256 {manifest['sha256']}, from {manifest['source']})")
    return 0


def cmd_verify(args):
    registry = pallets.load_registry()
    for name in _targets(args, registry):
        manifest = pallet_registry.verify(name)
        if manifest is None:
            print(f"{name}: generated workspaces valid, digests as registered")
        else:
            print(f"{name}: ok (sha256 {manifest['sha256']}, {len(manifest['files'])} files, "
                  "workspaces and patches valid)")
    return 0


def cmd_info(args):
    registry = pallets.load_registry()
    keys = []
    for target in args.names or _targets(args, registry):
        entry = registry["pallets"].get(target)
        keys += pallets.keys_of(target, entry) if entry else [target]
    for key in keys:
        info = pallet_registry.describe(key)
        print(f"{key}: {info['label']}")
        print(f"  size class {info['size']}; {info['channels']} channels, {info['bins']} bins, "
              f"{info['samples']} samples, {info['parameters']} parameters")
        print("  modifiers (parameters): " + ", ".join(
            f"{kind} {count} ({info['parameters_by_modifier'][kind]})"
            for kind, count in sorted(info["modifiers"].items())))
        kind = "synthetic" if info["synthetic_patches"] else "published"
        print(f"  {info['patches']} {kind} patches; signal patch {info['signal_patch']}")
        if info["reference_results"]:
            print(f"  reference results: {', '.join(info['reference_results'])}")
    return 0


def cmd_add(args):
    entry = pallet_registry.add(
        args.name, args.source, workspace=args.workspace, patches=args.patches,
        patchset=args.patchset, size=args.size, force=args.force,
        **{k: v for k, v in (("title", args.title), ("analysis", args.analysis),
                             ("publication", args.publication), ("doi", args.doi)) if v},
    )
    print(f"added {args.name} to {pallets.registry_path()} (sha256 {entry['sha256']})")
    for key, likelihood in zip(pallets.keys_of(args.name, entry), entry["likelihoods"].values()):
        patches = likelihood.get("patches") or likelihood.get("patchset") or "synthetic signals"
        print(f"  {key}: {likelihood['workspace']} (digest {likelihood['digest'][:16]}), "
              f"patches: {patches}, size {likelihood['size']}")
    return 0


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--mirror", default=argparse.SUPPRESS, metavar="DIR",
                        help="local folder of published files to use instead of HEPData "
                        "($PYHF_BENCH_PALLET_MIRROR)")
    common.add_argument("--cache", default=argparse.SUPPRESS, metavar="DIR",
                        help="cache folder ($PYHF_BENCH_CACHE, default ~/.cache/pyhf-benchmarks)")
    common.add_argument("--registry", default=argparse.SUPPRESS, metavar="FILE",
                        help="registry file ($PYHF_BENCH_REGISTRY, default pallets/registry.json)")
    parser = argparse.ArgumentParser(prog="scripts/pallets", parents=[common],
                                     description="Published likelihoods (pallets) for the benchmarks.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", parents=[common], help="registered pallets and their likelihood keys")
    p.add_argument("--size", choices=pallets.SIZES, default="full")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("fetch", parents=[common], help="download (or copy from the mirror) into the cache")
    p.add_argument("names", nargs="*", metavar="PALLET")
    p.add_argument("--all", action="store_true", help="every pallet obtainable here")
    p.add_argument("--url", help="download from this URL instead")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.add_argument("--allow-unpinned", action="store_true",
                   help="accept a pallet whose registry sha256 is null (prints the sha256 to pin)")
    p.set_defaults(run=cmd_fetch)

    p = sub.add_parser("verify", parents=[common],
                       help="check cached pallets: sha256, unpacked files, pyhf schemas")
    p.add_argument("names", nargs="*", metavar="PALLET", help="default: every cached or generated pallet")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("info", parents=[common], help="bins, parameters, modifiers, patches")
    p.add_argument("names", nargs="*", metavar="PALLET|KEY",
                   help="default: every cached or generated pallet")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("add", parents=[common], help="register a new pallet from a DOI, URL or local file")
    p.add_argument("name")
    p.add_argument("source", help="HEPData DOI (10.17182/...), URL, or local archive or JSON file")
    p.add_argument("--workspace", action="append", metavar="PATH",
                   help="background-only workspace inside the archive (repeatable; default: *BkgOnly*.json)")
    p.add_argument("--patches", metavar="GLOB", help="patch files inside the archive, e.g. 'A/patch.*.json'")
    p.add_argument("--patchset", metavar="PATH", help="pyhf patchset file inside the archive")
    p.add_argument("--size", choices=pallets.SIZES, default="full")
    p.add_argument("--force", action="store_true", help="replace an existing entry")
    for field in ("title", "analysis", "publication", "doi"):
        p.add_argument(f"--{field}")
    p.set_defaults(run=cmd_add)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    for option, variable in ENVIRONMENT.items():
        if option in args:
            os.environ[variable] = str(Path(getattr(args, option)).expanduser().resolve())
    try:
        return args.run(args)
    except pallets.PalletError as err:
        print(f"pallets {args.command}: error: {err}", file=sys.stderr)
        return 1
