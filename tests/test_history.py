"""Which commits a run measures, read from a pyhf-like history built here and from pyhf's own."""

import subprocess

import pytest

from conftest import BEFORE_TENSORFLOW_REMOVAL, PYTORCH_REMOVED, TENSORFLOW_REMOVED
from pyhfbench import history


class Repo:
    """A tiny git history shaped like pyhf's: a release branch forking from main."""

    def __init__(self, path):
        self.path = path
        subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(path)], check=True)

    def git(self, *args):
        return subprocess.run(["git", "-C", str(self.path), "-c", "user.name=t",
                               "-c", "user.email=t@t", *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    def commit(self, message, files=None, remove=()):
        for name, text in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.git("add", name)
        for name in remove:
            self.git("rm", "--quiet", name)
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    repo = Repo(tmp_path / "pyhf")
    backends = {f"src/pyhf/tensor/{b}_backend.py": "x = 1\n" for b in ("numpy", "pytorch")}
    repo.commits = {"old": repo.commit("old", {**backends, "src/pyhf/a.py": "np.product(x)\n"})}
    repo.git("tag", "v0.5.0")
    repo.commits["fork"] = repo.commit("fork: np.prod", {"src/pyhf/a.py": "np.prod(x)\n"})
    repo.git("tag", "v0.7.0")
    repo.git("switch", "--quiet", "-c", "release/v0.7.x")
    repo.commits["release"] = repo.commit("release fix")
    repo.git("tag", "-a", "v0.7.1", "-m", "release")
    repo.git("tag", "v0.7.2rc1")
    repo.git("switch", "--quiet", "main")
    for i in range(10):
        repo.commits[f"m{i}"] = repo.commit(f"main {i}")
    repo.commits["removal"] = repo.commit("remove pytorch", remove=["src/pyhf/tensor/pytorch_backend.py"])
    for i in range(10, 20):
        repo.commits[f"m{i}"] = repo.commit(f"main {i}")
    return repo


def test_releases_are_found_on_every_branch_newest_first_final_only(repo):
    assert history.release_tags(repo.path, oldest=(0, 6, 0)) == [
        ("v0.7.1", repo.commits["release"]), ("v0.7.0", repo.commits["fork"])]
    assert [name for name, _ in history.release_tags(repo.path, oldest=(0, 0, 0))][-1] == "v0.5.0"


def test_the_backfill_spans_main_since_the_fork_with_the_removal_as_a_step(repo):
    assert history.fork_point(repo.path, "main") == repo.commits["fork"]
    plan = history.backfill_plan(repo.path, "main", 5)
    line = history.first_parent(repo.path, "main", repo.commits["fork"])
    assert plan == [c for c in line if c in plan]  # oldest first, on main
    assert repo.commits["fork"] not in plan and repo.commits["release"] not in plan
    assert {repo.commits["m0"], repo.commits["m19"], repo.commits["removal"],
            repo.commits["m9"]} <= set(plan)
    assert 5 <= len(plan) <= 7


def test_evenly_spaced_keeps_both_ends():
    assert history.evenly_spaced(list("abcdefghij"), 4) == ["a", "d", "g", "j"]
    assert history.evenly_spaced(list("abc"), 10) == ["a", "b", "c"]
    assert history.evenly_spaced([], 3) == [] and history.evenly_spaced(list("ab"), 0) == []


def test_the_legacy_environment_is_chosen_by_the_code_not_the_version(repo):
    assert history.needs_legacy_environment(repo.path, repo.commits["old"])
    assert not history.needs_legacy_environment(repo.path, repo.commits["fork"])


def test_an_unknown_commit_is_an_error_naming_it(repo):
    with pytest.raises(history.HistoryError, match="deadbeef"):
        history.needs_legacy_environment(repo.path, "deadbeef")


def test_pyhfs_real_history(pyhf_history):
    fork = history.fork_point(pyhf_history, "main")
    assert fork.startswith("d088b17b")
    removals = history.backend_removals(pyhf_history, "main", fork)
    assert [c[:8] for c in removals] == [TENSORFLOW_REMOVED, PYTORCH_REMOVED]
    plan = [c[:8] for c in history.backfill_plan(pyhf_history, "main", 30)]
    assert len(plan) >= 30
    assert {BEFORE_TENSORFLOW_REMOVAL, TENSORFLOW_REMOVED, PYTORCH_REMOVED} <= set(plan)
    tags = dict(history.release_tags(pyhf_history))
    assert {"v0.7.6", "v0.7.1", "v0.6.0"} <= set(tags) and "v0.5.4" not in tags
    assert history.needs_legacy_environment(pyhf_history, tags["v0.7.2"])
    assert not history.needs_legacy_environment(pyhf_history, tags["v0.7.3"])
