"""A local pyhf git repository built from pyhf's sdists on PyPI.

GitHub is out of reach on some machines (and CI), but PyPI is not: each
release sdist becomes one commit, tagged ``v<version>`` and dated like the
release files, on branch ``main``. asv then benchmarks it exactly as it would
the real repository. Optionally a last commit removes backends the way pyhf
``main`` did (PRs #2609 and #2611), so the suite's skip logic can be
exercised; its message says it is a simulation.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .support import support_module

DEFAULT_VERSIONS = ("0.7.5", "0.7.6")

REMOVAL_PRS = {"pytorch": "#2611", "tensorflow": "#2609"}


class LocalRepoError(RuntimeError):
    pass


def _git(repo, *args, date=None):
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="pyhf-benchmarks",
        GIT_AUTHOR_EMAIL="pyhf-benchmarks@localhost",
        GIT_COMMITTER_NAME="pyhf-benchmarks",
        GIT_COMMITTER_EMAIL="pyhf-benchmarks@localhost",
    )
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{int(date)} +0000"
    result = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise LocalRepoError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def download_sdist(version, dest_dir):
    """Download pyhf's sdist for ``version`` from the package index into ``dest_dir``."""
    dest_dir = Path(dest_dir)
    found = sorted(dest_dir.glob(f"pyhf-{version}.tar.gz"))
    if found:
        return found[0]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         "--quiet", f"pyhf=={version}", "-d", str(dest_dir)],
        capture_output=True, text=True,
    )
    found = sorted(dest_dir.glob(f"pyhf-{version}.tar.gz"))
    if result.returncode != 0 or not found:
        raise LocalRepoError(f"could not download the pyhf {version} sdist: {result.stderr.strip()}")
    return found[0]


def _refuse(sdist, name, why):
    raise LocalRepoError(f"{sdist}: entry {name!r} {why}; refusing the archive")


def _unpack_sdist(sdist, worktree):
    """Replace the work tree's files with the sdist's; return the newest file time in it.

    A refused archive leaves the work tree as it was (it is extracted first)."""
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.isfile() or m.isdir()]
        top = members[0].name.split("/")[0]
        newest = max(m.mtime for m in members)
        with tempfile.TemporaryDirectory() as scratch:
            # Each member resolved against the real folder, links followed, whatever the
            # Python version (and the "data" filter on top where there is one).
            support_module("safe_extract").extract_tar(archive, members, scratch,
                                                       lambda name, why: _refuse(sdist, name, why))
            for entry in Path(worktree).iterdir():
                if entry.name != ".git":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            for entry in Path(scratch, top).iterdir():
                shutil.move(str(entry), worktree)
    # Generated at build time from the git tag by hatch-vcs.
    Path(worktree, "src", "pyhf", "_version.py").unlink(missing_ok=True)
    Path(worktree, "PKG-INFO").unlink(missing_ok=True)
    return newest


def remove_backend(worktree, backend):
    """Delete a backend module as pyhf main did, leaving the rest of the tree as it was."""
    module = Path(worktree, "src", "pyhf", "tensor", f"{backend}_backend.py")
    if not module.exists():
        raise LocalRepoError(f"{module} does not exist; nothing to remove")
    module.unlink()


def build_local_pyhf_repo(dest, versions=DEFAULT_VERSIONS, sdist_dir=None, remove_backends=()):
    """Create a git repository at ``dest`` with one tagged commit per pyhf release.

    Returns the list of (tag or label, commit hash), oldest first. ``dest`` must
    not exist yet, so that an existing repository is never overwritten.
    """
    dest = Path(dest)
    if dest.exists():
        raise LocalRepoError(f"{dest} exists already; choose a new folder")
    sdist_dir = Path(sdist_dir or tempfile.mkdtemp(prefix="pyhf-sdists-"))
    sdist_dir.mkdir(parents=True, exist_ok=True)
    sdists = [(v, download_sdist(v, sdist_dir)) for v in versions]

    dest.mkdir(parents=True)
    _git(dest, "init", "--quiet", "--initial-branch=main")
    commits = []
    date = 0
    for version, sdist in sdists:
        date = max(_unpack_sdist(sdist, dest), date + 1)
        _git(dest, "add", "--all")
        _git(dest, "commit", "--quiet", "-m", f"pyhf v{version} (from the PyPI sdist)", date=date)
        _git(dest, "tag", f"v{version}")
        commits.append((f"v{version}", _git(dest, "rev-parse", "HEAD")))
    if remove_backends:
        for backend in remove_backends:
            remove_backend(dest, backend)
        prs = ", ".join(f"{b} ({REMOVAL_PRS.get(b, 'simulated')})" for b in remove_backends)
        date += 86400
        _git(dest, "add", "--all")
        _git(dest, "commit", "--quiet", "-m",
             f"Simulated: remove backends as pyhf main did: {prs}", date=date)
        commits.append(("main", _git(dest, "rev-parse", "HEAD")))
    return commits


def add_commit(repo, message, replace=None, files=None, date=None, tag=None):
    """Commit a modification on top of the current ``main`` of a local repository.

    ``replace`` maps a path in the tree to a list of ``(old, new)`` text
    substitutions; each ``old`` must occur (so a test that injects a change
    fails loudly when the pyhf source moves). ``files`` maps a path to new file
    contents, or to None to delete the file. The commit is dated ``date``
    (seconds since the epoch), by default an hour after the current head, so
    that commit order and date order agree. Returns the new commit's hash.
    """
    repo = Path(repo)
    for relpath, substitutions in (replace or {}).items():
        path = repo / relpath
        if not path.is_file():
            raise LocalRepoError(f"{relpath} does not exist in {repo}")
        text = path.read_text()
        for old, new in substitutions:
            if old not in text:
                raise LocalRepoError(f"{old!r} does not occur in {relpath}")
            text = text.replace(old, new)
        path.write_text(text)
    for relpath, content in (files or {}).items():
        path = repo / relpath
        if content is None:
            if not path.exists():
                raise LocalRepoError(f"{relpath} does not exist in {repo}; nothing to delete")
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if date is None:
        date = int(_git(repo, "log", "-1", "--format=%ct", "HEAD")) + 3600
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", message, date=date)
    if tag:
        _git(repo, "tag", tag)
    return _git(repo, "rev-parse", "HEAD")


def refresh_asv_clones(env_dir, repo):
    """Bring asv's clone of ``repo`` in each environment up to date with its tags.

    asv fetches new commits into its clones but keeps tags it already has, so after the
    local repository is rebuilt (new commits under the same tag names) no release tag
    is reachable there and hatch-vcs versions pyhf 0.1.devN. Tags are force-fetched; a
    clone that cannot fetch (asv's clones share the objects of the repository they came
    from, which a rebuild deletes) is removed for asv to clone anew. Where a clone was
    stale, the environment's built wheels and installed-commit record go too, so that
    asv builds and installs pyhf again with the right version."""
    for clone in sorted(Path(env_dir).glob("*/project")):
        try:
            origin = _git(clone, "remote", "get-url", "origin")
        except LocalRepoError:
            continue
        if Path(origin).resolve() != Path(repo).resolve():
            continue
        tags = ("for-each-ref", "refs/tags", "--format=%(refname) %(objectname)")
        before = _git(clone, *tags)
        try:
            _git(clone, "fetch", "--quiet", "--force", "--tags", "origin")
        except LocalRepoError as err:
            print(f"removing asv's stale clone {clone} ({err})")
            shutil.rmtree(clone)
        else:
            if _git(clone, *tags) == before:
                continue
        shutil.rmtree(clone.parent / "asv-build-cache", ignore_errors=True)
        (clone.parent / "asv-install-status.json").unlink(missing_ok=True)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/local-pyhf-repo",
        description="Build a local pyhf git repository from release sdists on PyPI "
        "(one tagged commit per release), a stand-in for GitHub.",
    )
    parser.add_argument("dest", help="folder to create (must not exist)")
    parser.add_argument("--versions", nargs="+", default=list(DEFAULT_VERSIONS),
                        help=f"releases, oldest first (default: {' '.join(DEFAULT_VERSIONS)})")
    parser.add_argument("--sdist-dir", help="where sdists are cached (default: a temporary folder)")
    parser.add_argument("--remove-backends", nargs="*", default=[], metavar="BACKEND",
                        help="add a last commit that removes these backends, as pyhf main did")
    args = parser.parse_args(argv)
    try:
        commits = build_local_pyhf_repo(args.dest, args.versions, args.sdist_dir,
                                        args.remove_backends)
    except LocalRepoError as err:
        print(f"local-pyhf-repo: {err}", file=sys.stderr)
        return 1
    for label, commit in commits:
        print(f"{commit}  {label}")
    return 0
