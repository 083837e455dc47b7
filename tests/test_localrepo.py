"""The local stand-in for pyhf's GitHub repository, built from PyPI sdists."""

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
