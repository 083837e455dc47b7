"""The local stand-in for pyhf's GitHub repository, built from PyPI sdists."""

import shutil
import subprocess

import pytest

from pyhfbench import localrepo


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory, sdist_cache):
    dest = tmp_path_factory.mktemp("repos") / "pyhf"
    commits = localrepo.build_local_pyhf_repo(
        dest, ["0.7.5", "0.7.6"], sdist_cache, remove_backends=["pytorch"]
    )
    return dest, commits


def test_one_tagged_commit_per_release_then_the_simulated_removal(repo):
    dest, commits = repo
    assert [label for label, _ in commits] == ["v0.7.5", "v0.7.6", "main"]
    assert git(dest, "rev-list", "-n1", "v0.7.6") == commits[1][1]
    assert git(dest, "rev-parse", "main") == commits[2][1]
    assert "Simulated" in git(dest, "log", "-1", "--format=%s", "main")
    assert "#2611" in git(dest, "log", "-1", "--format=%s", "main")


def test_removal_commit_deletes_only_the_backend(repo):
    dest, _ = repo
    changed = git(dest, "diff", "--name-status", "v0.7.6", "main").splitlines()
    assert changed == ["D\tsrc/pyhf/tensor/pytorch_backend.py"]


def test_release_trees_hold_pyhf_sources_without_generated_files(repo):
    dest, _ = repo
    files = git(dest, "ls-tree", "-r", "--name-only", "v0.7.6").splitlines()
    assert "pyproject.toml" in files and "src/pyhf/tensor/numpy_backend.py" in files
    assert "src/pyhf/_version.py" not in files and "PKG-INFO" not in files


def test_existing_folder_is_never_overwritten(repo):
    dest, _ = repo
    with pytest.raises(localrepo.LocalRepoError, match="exists already"):
        localrepo.build_local_pyhf_repo(dest, ["0.7.6"])


def test_unknown_release_is_refused_with_its_version(tmp_path, sdist_cache):
    with pytest.raises(localrepo.LocalRepoError, match="0.0.0"):
        localrepo.build_local_pyhf_repo(tmp_path / "r", ["0.0.0"], sdist_cache)


def one_commit_repo(path, content):
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return localrepo.add_commit(path, content, files={"file": content}, date=1_700_000_000, tag="v0.7.6")


@pytest.mark.parametrize("how", ["retagged", "rebuilt"])
def test_asv_clones_follow_a_rebuilt_local_repository(tmp_path, how):
    """After the local repository is rebuilt (same tag, new commit), asv's clone must not
    keep the old tag: pyhf built there would have no release tag (version 0.1.devN)."""
    repo = tmp_path / "pyhf"
    one_commit_repo(repo, "first")
    clone = tmp_path / "env" / "abc" / "project"
    git(tmp_path, "clone", "-q", "--shared", str(repo), str(clone))
    other = tmp_path / "env" / "def" / "project"  # a clone of another repository is left alone
    one_commit_repo(tmp_path / "elsewhere", "other")
    git(tmp_path, "clone", "-q", str(tmp_path / "elsewhere"), str(other))
    if how == "retagged":
        new = localrepo.add_commit(repo, "second", files={"file": "second"})
        git(repo, "tag", "-f", "v0.7.6")
    else:
        shutil.rmtree(repo)
        new = one_commit_repo(repo, "rebuilt")
    for env in ("abc", "def"):  # what asv keeps per environment: built wheels, installed commit
        (tmp_path / "env" / env / "asv-build-cache").mkdir()
        (tmp_path / "env" / env / "asv-install-status.json").write_text("{}")
    localrepo.refresh_asv_clones(tmp_path / "env", repo)
    # the stale environment builds and installs pyhf again; the other keeps its wheels
    assert not (tmp_path / "env" / "abc" / "asv-build-cache").exists()
    assert not (tmp_path / "env" / "abc" / "asv-install-status.json").exists()
    assert (tmp_path / "env" / "def" / "asv-build-cache").exists()
    assert (tmp_path / "env" / "def" / "asv-install-status.json").exists()
    (tmp_path / "env" / "abc" / "asv-build-cache").mkdir()  # asv's next build
    localrepo.refresh_asv_clones(tmp_path / "env", repo)  # up to date now: nothing to remove
    assert (tmp_path / "env" / "abc" / "asv-build-cache").exists()
    if clone.exists():  # fetched: the tag moved with the repository
        assert git(clone, "rev-parse", "v0.7.6^{commit}") == new
    else:  # could not fetch (its shared objects were deleted): removed for asv to clone anew
        assert how == "rebuilt"
    assert git(other, "log", "-1", "--format=%s") == "other"

