"""End to end on pyhf's real history: asv builds pyhf per commit and runs the suite.

The commits are those a maintainer's history runs through: v0.7.6 (on
``release/v0.7.x``), main before and at the TensorFlow removal (PR #2609),
at the PyTorch removal (PR #2611) and main's tip, from a clone of
``../shared/pyhf/pyhf-main.bundle``. hatch-vcs versions main ``0.7.1.devN``
(its release tags are on the release branch), so every state asserted here
(measured, or n/a with the reason the benchmark recorded) must come from
what the code at that commit has, not from its version number.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BEFORE_TENSORFLOW_REMOVAL, PYTORCH_REMOVED, TENSORFLOW_REMOVED
from pyhfbench import asvconf
from pyhfbench import results as resultslib

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Shared between test sessions on one machine: asv reuses built environments.
ENV_DIR = REPO_ROOT / ".asv" / "test-env"
MACHINE = "e2e-test"
BACKENDS = ("numpy", "jax", "pytorch", "tensorflow")
# asv matches these against "name(param, ...)": each selected combination costs a
# process start, the others are stored as NaN and never asserted on below.
SELECTION = [
    r"bench_baseline\.HypotestUncorrelatedBackground\.track_cls_obs"
    r"\('(numpy|jax|pytorch|tensorflow)', 'cpu', 1\)",
    r"bench_baseline\.HypotestUncorrelatedBackground\.track_cls_obs\('numpy', 'gpu', 1\)",
    r"bench_hypotest\.AsymptoticCLs\.track_cls_obs\('numpy', 'cpu', 'sbottom/RegionA'\)",
    r"bench_interpolation\.Interpolation\.track_largest_difference_to_reference"
    r"\('numpy', 'cpu', '4p', '(small|large)'\)",
    r"bench_toys\.ToyBasedCLs\.track_toys_per_second\('numpy', 'cpu', 'sbottom/RegionB'\)",
]
BASELINE = "bench_baseline.HypotestUncorrelatedBackground.track_cls_obs"
SBOTTOM = "bench_hypotest.AsymptoticCLs.track_cls_obs"
TOYS = "bench_toys.ToyBasedCLs.track_toys_per_second"

REMOVED_TF = "pyhf removed the tensorflow backend (scikit-hep/pyhf PR #2609)"
REMOVED_TORCH = "pyhf removed the pytorch backend (scikit-hep/pyhf PR #2611)"
#: (commit label, backend) -> the reason that backend is n/a there; every other backend is measured.
EXPECTED_SKIPS = {
    (TENSORFLOW_REMOVED, "tensorflow"): REMOVED_TF,
    (PYTORCH_REMOVED, "tensorflow"): REMOVED_TF,
    (PYTORCH_REMOVED, "pytorch"): REMOVED_TORCH,
    ("main", "tensorflow"): REMOVED_TF,
    ("main", "pytorch"): REMOVED_TORCH,
}


def asv(config, *args):
    result = subprocess.run(
        [sys.executable, "-m", "asv", *args, "--config", str(config)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=dict(os.environ),
    )
    assert result.returncode == 0, f"asv {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, pyhf_history, shared_pallets, monkeypatch_module):
    work = tmp_path_factory.mktemp("e2e")
    labels = ("v0.7.6", BEFORE_TENSORFLOW_REMOVAL, TENSORFLOW_REMOVED, PYTORCH_REMOVED, "main")
    commits = {label: git(pyhf_history, "rev-parse", f"{label}^{{commit}}") for label in labels}
    # The committed matrix (all four CPU backends), on the working-tree clone a user has.
    config = asvconf.write_config(
        asvconf.derive_config(
            repo=pyhf_history, branches=["main", "release/v0.7.x"],
            results_dir=work / "results", html_dir=work / "html", env_dir=ENV_DIR,
        ),
        work / "asv.json",
    )
    monkeypatch_module.setenv("PYHF_BENCH_PALLET_MIRROR", str(shared_pallets))
    monkeypatch_module.setenv("PYHF_BENCH_CACHE", str(work / "cache"))
    monkeypatch_module.setenv("PYHF_BENCH_SIZE", "full")  # sbottom/RegionA is in the full set
    monkeypatch_module.setenv(resultslib.SKIP_LOG_ENV,
                              str(resultslib.skip_log_dir(work / "results", MACHINE)))
    asv(config, "machine", "--yes", "--machine", MACHINE)
    hashfile = work / "commits.txt"
    hashfile.write_text("\n".join(commits.values()) + "\n")
    selection = [arg for regex in SELECTION for arg in ("--bench", regex)]
    run_log = asv(config, "run", "--machine", MACHINE, "--quick", "--show-stderr",
                  *selection, f"HASHFILE:{hashfile}")
    asv(config, "publish")
    return work, commits, run_log


def results_of(work, commit):
    (loaded,) = [c for c in resultslib.load_machine(work / "results", MACHINE)
                 if c.commit == commit]
    return loaded


def reason_of(work, loaded, measurement):
    reasons = resultslib.load_skip_reasons(work / "results", MACHINE)
    return resultslib.skip_reason_of(reasons, loaded.commit, loaded.env_name, measurement)


def is_skipped(value):
    return value is not None and math.isnan(value)


def state_table(work, commits):
    """[(commit label, backend, state, recorded reason)] of the baseline CLs at 1 bin."""
    rows = []
    for label, commit in commits.items():
        loaded = results_of(work, commit)
        for backend in BACKENDS:
            measurement = loaded.get(BASELINE, (f"'{backend}'", "'cpu'", "1"))
            reason = reason_of(work, loaded, measurement)
            rows.append((label, backend, measurement.state, reason and reason.reason))
    return rows


def test_every_backend_pyhf_has_is_measured_and_the_removed_ones_are_na_with_the_pr(suite_run):
    work, commits, _ = suite_run
    rows = state_table(work, commits)
    print("\n".join(" | ".join(str(cell) for cell in row) for row in rows))
    for label, backend, state, reason in rows:
        expected = EXPECTED_SKIPS.get((label, backend))
        if expected:
            assert (state, reason) == (resultslib.SKIPPED, expected), (label, backend)
        else:
            assert state == resultslib.OK, (label, backend, reason)


def test_main_is_versioned_below_the_releases_and_still_measured(suite_run, pyhf_history):
    # The false skip this guards against: 0.7.1.devN read as a release before NumPy 2 support.
    assert git(pyhf_history, "describe", "--tags", "main").startswith("v0.7.0-")
    work, commits, _ = suite_run
    cls = results_of(work, commits["main"]).get(BASELINE, ("'numpy'", "'cpu'", "1")).value
    assert 0 < cls < 1


def test_removals_are_recorded_as_removed_and_other_skips_as_unavailable(suite_run):
    work, commits, _ = suite_run
    main = results_of(work, commits["main"])
    torch = reason_of(work, main, main.get(BASELINE, ("'pytorch'", "'cpu'", "1")))
    assert torch.kind == resultslib.REMOVED
    gpu = reason_of(work, main, main.get(BASELINE, ("'numpy'", "'gpu'", "1")))
    assert (gpu.kind, gpu.reason) == ("unavailable", "the numpy backend runs on the CPU only")


def test_toys_follow_the_percentile_fix_not_the_version(suite_run):
    # numpy's percentile(interpolation=) went from main in 4bc755c (2025-12), after both removals.
    work, commits, _ = suite_run
    key = ("'numpy'", "'cpu'", "'sbottom/RegionB'")
    for label in ("v0.7.6", PYTORCH_REMOVED):
        loaded = results_of(work, commits[label])
        measurement = loaded.get(TOYS, key)
        assert measurement.state == resultslib.SKIPPED, label
        assert "percentile(interpolation=)" in reason_of(work, loaded, measurement).reason
    assert results_of(work, commits["main"]).get(TOYS, key).value > 0


def test_published_reference_cls_is_reproduced_at_every_commit(suite_run):
    from benchmarks.support import pallets

    work, commits, _ = suite_run
    patch = pallets.signal_patch("sbottom/RegionA")
    reference = pallets.reference_results("sbottom/RegionA", patch)
    for label, commit in commits.items():
        measured = results_of(work, commit).get(SBOTTOM, ("'numpy'", "'cpu'", "'sbottom/RegionA'"))
        assert measured.value == pytest.approx(reference["cls_obs"], rel=1e-4), label


def test_interpolation_difference_is_tracked(suite_run):
    work, commits, _ = suite_run
    name = "bench_interpolation.Interpolation.track_largest_difference_to_reference"
    release = results_of(work, commits["v0.7.6"])
    assert release.get(name, ("'numpy'", "'cpu'", "'4p'", "'small'")).value < 1e-9
    assert release.get(name, ("'numpy'", "'cpu'", "'4p'", "'large'")).state == resultslib.SKIPPED


def test_dashboard_shows_main_and_the_release_branch_apart(suite_run):
    work, commits, _ = suite_run
    html = work / "html"
    assert (html / "index.html").is_file()
    index = json.loads((html / "index.json").read_text())
    assert BASELINE in index["benchmarks"]
    assert set(commits.values()) <= set(index["revision_to_hash"].values())
    graphs = {}
    for path in html.glob("graphs/**/" + BASELINE + ".json"):
        if f"machine-{MACHINE}" in str(path) and "summary" not in path.parts:
            branch = next(part for part in path.parts if part.startswith("branch-"))
            graphs[branch] = json.loads(path.read_text())
    assert set(graphs) == {"branch-main", "branch-release_v0.7.x"}
    assert len(graphs["branch-main"]) == 4  # 135d029f, a4eefc50, c30e3376, the tip
    assert len(graphs["branch-release_v0.7.x"]) == 1  # v0.7.6 alone, not among main's
