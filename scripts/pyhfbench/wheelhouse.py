"""Build a wheelhouse for an offline GPU node: pyhf wheels per commit, with a manifest.

On a connected machine, from a pyhf git repository with its release tags
(hatch-vcs versions a commit from the nearest tag), each commit is checked
out in a temporary worktree and built with ``pip wheel --no-deps``. The
wheelhouse folder holds::

    manifest.json       commit -> wheel file, sha256, version (and the support wheels)
    pyhf/*.whl          one pyhf wheel per commit
    support/*.whl       what the node lacks: pyhf's and asv's dependencies (optional)
    repository.git      a bare repository with just those commits (depth 1, no file
                        contents): asv records results for a commit it can look up

The node side is ``offline_node.py`` (``scripts/offline-bench``); see docs/gpu-hosts.md.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import runtools
from .results import requirement_name
from .support import support_module

sha256_of = support_module("pallets").sha256_of

MANIFEST = "manifest.json"
PYHF_FOLDER = "pyhf"
SUPPORT_FOLDER = "support"
REPOSITORY = "repository.git"
FORMAT = 1

#: What the node must be given as wheels besides pyhf (its Python has numpy, scipy,
#: matplotlib, psutil, nvidia-ml-py, jax and torch): asv to run, pyhf's dependencies,
#: and the optional packages the suite uses. Resolved with their dependencies.
SUPPORT_REQUIREMENTS = ("asv==0.6.6", "asv_runner", "iminuit", "threadpoolctl", "click",
                        "jsonpatch", "jsonschema", "pyyaml", "tqdm", "rich")
#: Distributions the node provides (never downloaded: the host's own builds must win).
HOST_PROVIDED = frozenset({
    "numpy", "scipy", "matplotlib", "psutil", "nvidia-ml-py", "jax", "jaxlib", "torch",
    "pip", "setuptools", "wheel", "contourpy", "cycler", "fonttools", "kiwisolver", "pillow",
    "pyparsing", "python-dateutil", "six", "ml-dtypes", "opt-einsum", "filelock", "fsspec",
    "jinja2", "markupsafe", "mpmath", "networkx", "sympy", "typing-extensions", "triton",
})
#: The node this project designs for (docs/gpu-hosts.md).
DEFAULT_PYTHON_VERSION = "3.12"
#: pip takes no compatible older tags from one --platform, so the node's are listed.
DEFAULT_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


class WheelhouseError(RuntimeError):
    pass


def git(repo, *args, check=True):
    return runtools.git(repo, *args, check=check, error=WheelhouseError).stdout.strip()


def resolve_revisions(repo, revisions):
    """[(revision as given, full commit hash)] for names, hashes and ranges (``A..B``: every
    commit of the range, oldest first), without duplicates."""
    resolved, seen = [], set()
    for revision in revisions:
        if ".." in revision:
            hashes = git(repo, "rev-list", "--reverse", revision).split()
            if not hashes:
                raise WheelhouseError(f"the range {revision} holds no commit")
            pairs = [(commit, commit) for commit in hashes]
        else:
            commit = git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}",
                         check=False)
            if not commit:
                raise WheelhouseError(f"{revision!r} names no commit in {repo}")
            pairs = [(revision, commit)]
        for name, commit in pairs:
            if commit not in seen:
                seen.add(commit)
                resolved.append((name, commit))
    return resolved


def require_tags(repo, commit):
    """The nearest release tag of ``commit``; fails where there is none (hatch-vcs would
    version it 0.1.devN, which the suite refuses)."""
    if not git(repo, "tag", "--list", "v*"):
        raise WheelhouseError(f"{repo} has no release tags (v*): fetch them (git fetch --tags), "
                              "or hatch-vcs versions every wheel 0.1.devN")
    tag = git(repo, "describe", "--tags", "--abbrev=0", "--match", "v*", commit, check=False)
    if not tag:
        raise WheelhouseError(f"no release tag is reachable from {commit[:8]} in {repo}")
    return tag


def build_wheel(repo, commit, dest, python=sys.executable, timeout=900):
    """Build pyhf at ``commit`` into ``dest``; return the wheel's path."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pyhf-wheel-") as scratch:
        tree, out = Path(scratch) / "tree", Path(scratch) / "out"
        git(repo, "worktree", "add", "--quiet", "--detach", str(tree), commit)
        try:
            result = subprocess.run(
                [python, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--quiet",
                 "-w", str(out), str(tree)],
                capture_output=True, text=True, timeout=timeout)
        finally:
            git(repo, "worktree", "remove", "--force", str(tree), check=False)
            git(repo, "worktree", "prune", check=False)
        wheels = sorted(out.glob("pyhf-*.whl")) if out.is_dir() else []
        if result.returncode != 0 or len(wheels) != 1:
            raise WheelhouseError(f"pip wheel of pyhf at {commit[:8]} failed "
                                  f"(status {result.returncode}): {result.stderr.strip()[-2000:]}")
        target = dest / wheels[0].name
        shutil.move(str(wheels[0]), target)
    return target


def wheel_version(path):
    """The version in a wheel's file name (``pyhf-0.7.6-py3-none-any.whl`` -> ``0.7.6``)."""
    return Path(path).name.split("-")[1]


def write_repository(repo, commits, dest):
    """A bare repository with only ``commits`` (depth 1, commits and trees, no file contents),
    a branch ``wheelhouse/<hash8>`` on each: what asv needs to record a result for a commit."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    subprocess.run(["git", "init", "--quiet", "--bare", str(dest)], check=True)
    upload = ("git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true "
              "upload-pack")
    source = Path(repo).resolve()
    for commit in commits:
        git(dest, "fetch", "--quiet", "--depth", "1", "--filter=blob:none",
            f"--upload-pack={upload}", f"file://{source}", commit)
        git(dest, "update-ref", f"refs/heads/wheelhouse/{commit[:8]}", commit)
    # The promisor remote stays: nothing asv runs needs file contents, and a command that did
    # would fail offline with git's own message rather than read a wrong tree.
    return dest


def resolve_support(requirements=SUPPORT_REQUIREMENTS, python_version=DEFAULT_PYTHON_VERSION,
                    platforms=DEFAULT_PLATFORMS, python=sys.executable):
    """[(name, version)] of the support requirements and their dependencies for the node's
    Python and platform, less what the node provides (HOST_PROVIDED)."""
    with tempfile.TemporaryDirectory(prefix="support-") as scratch:
        report = Path(scratch) / "report.json"
        command = [python, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                   "--only-binary=:all:", "--python-version", python_version,
                   *platform_args(platforms), "--target", str(Path(scratch) / "t"),
                   "--report", str(report), *requirements]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise WheelhouseError(f"pip could not resolve the support wheels: "
                                  f"{result.stderr.strip()[-2000:]}")
        installs = json.loads(report.read_text())["install"]
    pinned = [(item["metadata"]["name"], item["metadata"]["version"]) for item in installs]
    return sorted((name, version) for name, version in pinned
                  if requirement_name(name) not in HOST_PROVIDED)


def platform_args(platforms):
    return [arg for platform in platforms for arg in ("--platform", platform)]


def download_support(pins, dest, python_version=DEFAULT_PYTHON_VERSION,
                     platforms=DEFAULT_PLATFORMS, python=sys.executable):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, *platform_args(platforms), "-d", str(dest),
               *[f"{name}=={version}" for name, version in pins]]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise WheelhouseError(f"pip download of the support wheels failed: "
                              f"{result.stderr.strip()[-2000:]}")
    return sorted(dest.glob("*.whl"))


def build_wheelhouse(repo, revisions, dest, python=sys.executable, support=False,
                     python_version=DEFAULT_PYTHON_VERSION, platforms=DEFAULT_PLATFORMS,
                     log=print):
    """Build the wheelhouse in ``dest`` (see the module doc); return the manifest.

    Wheels already in ``dest`` for a commit with the same sha256 recorded are kept.
    """
    repo, dest = Path(repo).resolve(), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    previous = load_manifest(dest) if (dest / MANIFEST).is_file() else {"pyhf": []}
    known = {entry["commit"]: entry for entry in previous.get("pyhf", [])}
    entries = []
    for revision, commit in resolve_revisions(repo, revisions):
        tag = require_tags(repo, commit)
        old = known.get(commit)
        if old and (dest / old["wheel"]).is_file() and sha256_of(dest / old["wheel"]) == old["sha256"]:
            entries.append({**old, "revision": revision})
            log(f"{commit[:8]} ({revision}): kept {old['wheel']}")
            continue
        started = time.perf_counter()
        wheel = build_wheel(repo, commit, dest / PYHF_FOLDER, python)
        version = wheel_version(wheel)
        if version.startswith("0.1.dev"):
            raise WheelhouseError(f"{commit[:8]} was versioned {version}: its tags are missing")
        entries.append({
            "revision": revision, "commit": commit, "version": version, "nearest_tag": tag,
            "date": int(git(repo, "log", "-1", "--format=%ct", commit)),
            "subject": git(repo, "log", "-1", "--format=%s", commit),
            "wheel": f"{PYHF_FOLDER}/{wheel.name}", "sha256": sha256_of(wheel),
        })
        log(f"{commit[:8]} ({revision}): {wheel.name} in {time.perf_counter() - started:.0f} s")
    write_repository(repo, [entry["commit"] for entry in entries], dest / REPOSITORY)
    support_entries = previous.get("support", [])
    if support:
        pins = resolve_support(python_version=python_version, platforms=platforms, python=python)
        wheels = download_support(pins, dest / SUPPORT_FOLDER, python_version, platforms, python)
        support_entries = [{"wheel": f"{SUPPORT_FOLDER}/{w.name}", "sha256": sha256_of(w)}
                           for w in wheels]
        log(f"support wheels for Python {python_version} on {', '.join(platforms)}: {len(wheels)}")
    manifest = {
        "format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": str(repo), "repository": REPOSITORY, "pyhf": entries,
        "support": support_entries,
        "support_target": {"python": python_version, "platforms": list(platforms)} if support
        else previous.get("support_target"),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_manifest(wheelhouse):
    path = Path(wheelhouse) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise WheelhouseError(f"cannot read the wheelhouse manifest {path}: {err}") from None
    if manifest.get("format") != FORMAT:
        raise WheelhouseError(f"{path}: unknown manifest format {manifest.get('format')!r}")
    return manifest


def verify(wheelhouse, manifest=None):
    """Raise WheelhouseError where a listed file is missing or its sha256 differs."""
    wheelhouse = Path(wheelhouse)
    manifest = manifest or load_manifest(wheelhouse)
    for entry in manifest["pyhf"] + manifest.get("support", []):
        path = wheelhouse / entry["wheel"]
        if not path.is_file():
            raise WheelhouseError(f"{path} is listed in the manifest but missing")
        if sha256_of(path) != entry["sha256"]:
            raise WheelhouseError(f"{path}: sha256 differs from the manifest's")
    if not (wheelhouse / manifest["repository"] / "HEAD").is_file():
        raise WheelhouseError(f"{wheelhouse / manifest['repository']} is missing")
    return manifest


def total_bytes(wheelhouse):
    return sum(p.stat().st_size for p in Path(wheelhouse).rglob("*") if p.is_file())


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/gpu-wheels",
        description="On a connected machine: build pyhf wheels for commits of a pyhf git "
        "repository into a wheelhouse for an offline GPU node (docs/gpu-hosts.md).")
    parser.add_argument("--repo", required=True, help="pyhf git repository with its tags")
    parser.add_argument("--output", required=True, help="the wheelhouse folder")
    parser.add_argument("revisions", nargs="+",
                        help="commits, tags, branches or ranges (A..B: every commit of it)")
    parser.add_argument("--support", action="store_true",
                        help="also download the wheels the node lacks (asv, pyhf's dependencies)")
    parser.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION,
                        help="the node's Python, for --support (default: %(default)s)")
    parser.add_argument("--platform", action="append",
                        help="the node's wheel platform tags, for --support (repeatable; default: "
                        f"{' '.join(DEFAULT_PLATFORMS)})")
    args = parser.parse_args(argv)
    try:
        manifest = build_wheelhouse(args.repo, args.revisions, args.output,
                                    support=args.support, python_version=args.python_version,
                                    platforms=args.platform or DEFAULT_PLATFORMS)
    except WheelhouseError as err:
        print(f"gpu-wheels: {err}", file=sys.stderr)
        return 2
    size = total_bytes(args.output) / 2**20
    print(f"{args.output}: {len(manifest['pyhf'])} pyhf wheel(s), "
          f"{len(manifest['support'])} support wheel(s), {size:.1f} MiB")
    return 0
