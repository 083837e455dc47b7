"""Bisection of a finding's range: the first commit that shows it, within ceil(log2(N)) + 2."""

import math
import subprocess

import pytest

from pyhfbench import bisection, gate, gate_rules, localrepo, paired


def letters(n):
    return [f"c{i:03d}" for i in range(n)]


@pytest.mark.parametrize("n", [2, 3, 5, 6, 8, 13, 32, 100])
def test_search_finds_every_position_within_the_bound(n):
    commits = letters(n)
    for culprit in range(n):
        measured = []

        def is_bad(commit):
            measured.append(commit)
            return commits.index(commit) >= culprit

        found = bisection.search(commits, is_bad, budget=bisection.bound_for(n) - 2)
        assert found["found"] and found["first_bad"] == commits[culprit]
        assert found["last_good"] == (commits[culprit - 1] if culprit else None)
        assert len(measured) <= math.ceil(math.log2(n))
        assert commits[-1] not in measured  # the flagged commit is known bad


def test_search_that_runs_out_of_budget_says_where_the_commit_lies():
    commits = letters(32)
    found = bisection.search(commits, lambda c: commits.index(c) >= 20, budget=2)
    assert not found["found"] and len(found["steps"]) == 2
    low, high = commits.index(found["last_good"]), commits.index(found["first_bad"])
    assert low < 20 <= high


def test_bound_is_log2_plus_two():
    assert [bisection.bound_for(n) for n in (1, 2, 6, 8, 9, 100)] == [0, 3, 5, 5, 6, 9]


class FakeInstalls:
    """Stands in for paired.Installs: the path of a commit's pyhf, counting first installs."""

    def __init__(self):
        self.built = []

    def __call__(self, commit):
        if commit not in self.built:
            self.built.append(commit)
        return commit  # the fake count reads the commit from it


@pytest.fixture
def history(tmp_path):
    """A git repository: a baseline and 7 commits after it, the slowdown in the 4th."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(repo)], check=True)
    commits = [localrepo.add_commit(repo, "baseline", files={"a.txt": "0\n"}, date=1_700_000_000)]
    for i in range(1, 8):
        commits.append(localrepo.add_commit(repo, "slow: extra passes" if i == 4 else f"docs {i}",
                                            files={"a.txt": f"{i}\n"}))
    return repo, commits


def finding_over(commits, kind="more_instructions"):
    return gate.Finding(kind=kind, commit=commits[-1], baseline_commit=commits[0],
                        benchmark="bench_instructions.BaselineInstructions.track_instructions",
                        params={"backend": "numpy", "device": "cpu",
                                "workload": "baseline hypotest 10 bins"},
                        param_reprs=["'numpy'", "'cpu'", "'baseline hypotest 10 bins'"],
                        ratio=1.3)


def test_an_instruction_finding_is_bisected_on_the_count(history):
    repo, commits = history
    slow = commits[4]
    counted = []

    def count(spec, env, install):
        counted.append(install)
        assert spec == ["prepare_baseline_hypotest", "numpy", 10]
        return 1_300_000 if commits.index(install) >= 4 else 1_000_000 + commits.index(install)

    installs = FakeInstalls()
    found = bisection.bisect_finding(finding_over(commits), None, installs, repo, gate_rules.Rule(),
                                     count=count)
    assert found["found"] and found["first_bad"] == slow
    assert found["subject"] == "slow: extra passes"
    assert found["author"] == "pyhf-benchmarks <pyhf-benchmarks@localhost>"
    assert found["range"] == 7 and found["bound"] == bisection.bound_for(7) == 5
    assert found["measured"] == len(counted) <= 5
    assert found["builds"] == len(set(counted))
    assert found["method"].startswith("instruction count")
    assert all("instructions" in step["shown"] for step in found["steps"])


def test_a_count_that_does_not_grow_again_is_an_error(history):
    repo, commits = history
    with pytest.raises(paired.PairedError, match="no growth"):
        bisection.bisect_finding(finding_over(commits), None, FakeInstalls(), repo, gate_rules.Rule(),
                                 count=lambda spec, env, install: 1_000_000)


def test_a_one_commit_range_is_not_bisected(history):
    repo, commits = history
    assert bisection.bisect_finding(finding_over(commits[-2:]), None, FakeInstalls(), repo,
                                    gate_rules.Rule()) is None


def test_a_time_finding_is_bisected_by_paired_comparison(history, monkeypatch):
    repo, commits = history
    finding = finding_over(commits, kind="slower")
    finding.benchmark = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"
    finding.params, finding.param_reprs = {"backend": "numpy"}, ["'numpy'"]
    finding.confirmation = {"ratio": 1.6}
    monkeypatch.setattr(paired, "side_at", lambda f, env, install, commit, *a, **k: commit)
    compared = []

    def alternate(baseline, candidate, pairs, device="cpu"):
        compared.append(candidate)
        ratio = 1.6 if commits.index(candidate) >= 4 else 1.0
        return "cpu", [({"cpu": 0.1}, {"cpu": 0.1 * ratio * (1 + 0.001 * (i % 3))})
                       for i in range(pairs)]

    monkeypatch.setattr(paired, "alternate", alternate)
    found = bisection.bisect_finding(finding, None, FakeInstalls(), repo, gate_rules.Rule())
    assert found["found"] and found["first_bad"] == commits[4]
    assert found["method"] == "paired time" and len(compared) <= math.ceil(math.log2(7))
    assert "x1.300" in found["criterion"]  # half the confirmed x1.6
