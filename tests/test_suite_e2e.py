"""End to end: asv builds pyhf per commit from a local repository and runs the suite.

The repository has a real release (v0.7.6, from its PyPI sdist) and a
simulated ``main`` that removed the pytorch and tensorflow backends as
pyhf did (PRs #2611, #2609). A reduced selection runs with ``asv run``,
then ``asv publish``; the results JSON and the html must show numbers where
the backend exists and n/a (a skip, never a failure) where it was removed.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyhfbench import asvconf, localrepo

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Shared between test sessions on one machine: asv reuses built environments.
ENV_DIR = REPO_ROOT / ".asv" / "test-env"
MACHINE = "e2e-test"
# asv matches these against "name(param, ...)": each selected combination costs a
# process start, the others are stored as NaN and never asserted on below.
SELECTION = [
    r"bench_baseline\.HypotestUncorrelatedBackground\.track_cls_obs"
    r"\('(numpy|pytorch|tensorflow)', 'cpu', (1|10)\)",
    r"bench_baseline\.HypotestUncorrelatedBackground\.track_cls_obs\('numpy', 'gpu', 1\)",
    r"bench_hypotest\.AsymptoticCLs\.track_cls_obs\('(numpy|pytorch)', 'cpu', 'sbottom/RegionA'\)",
    r"bench_interpolation\.Interpolation\.track_largest_difference_to_reference"
    r"\('numpy', 'cpu', '4p', '(small|large)'\)",
]


def asv(config, *args):
    result = subprocess.run(
        [sys.executable, "-m", "asv", *args, "--config", str(config)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=dict(os.environ),
    )
    assert result.returncode == 0, f"asv {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, sdist_cache, shared_pallets, monkeypatch_module):
    work = tmp_path_factory.mktemp("e2e")
    commits = dict(localrepo.build_local_pyhf_repo(
        work / "pyhf", ["0.7.6"], sdist_cache, remove_backends=["pytorch", "tensorflow"]
    ))
    config = asvconf.write_config(
        asvconf.derive_config(
            repo=work / "pyhf", matrix="numpy-torch", results_dir=work / "results",
            html_dir=work / "html", env_dir=ENV_DIR,
        ),
        work / "asv.json",
    )
    monkeypatch_module.setenv("PYHF_BENCH_PALLET_MIRROR", str(shared_pallets))
    monkeypatch_module.setenv("PYHF_BENCH_CACHE", str(work / "cache"))
    monkeypatch_module.setenv("PYHF_BENCH_SIZE", "full")  # sbottom/RegionA is in the full set
    asv(config, "machine", "--yes", "--machine", MACHINE)
    selection = [arg for regex in SELECTION for arg in ("--bench", regex)]
    run_log = asv(config, "run", "--machine", MACHINE, "--quick", "--show-stderr",
                  *selection, "ALL")
    asv(config, "publish")
    return work, commits, run_log


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def results_of(work, commit):
    (path,) = (work / "results" / MACHINE).glob(f"{commit[:8]}-*.json")
    data = json.loads(path.read_text())
    columns = data["result_columns"]
    table = {}
    for name, row in data["results"].items():
        row = dict(zip(columns, row))
        values, params = row["result"], row["params"]
        combos = [()]
        for values_of_param in params:
            combos = [c + (v.strip("'"),) for c in combos for v in values_of_param]
        table[name] = dict(zip(combos, values))
    return table


def is_skipped(value):
    return value is not None and math.isnan(value)


BASELINE = "bench_baseline.HypotestUncorrelatedBackground.track_cls_obs"
SBOTTOM = "bench_hypotest.AsymptoticCLs.track_cls_obs"


def test_both_commits_are_measured_at_the_release(suite_run):
    work, commits, _ = suite_run
    release = results_of(work, commits["v0.7.6"])
    numpy_cls = release[BASELINE][("numpy", "cpu", "10")]
    torch_cls = release[BASELINE][("pytorch", "cpu", "10")]
    assert 0 < numpy_cls < 1
    assert torch_cls == pytest.approx(numpy_cls, rel=1e-5)


def test_removed_backend_is_na_not_failed_on_main(suite_run):
    work, commits, _ = suite_run
    main = results_of(work, commits["main"])
    for n_bins in ("1", "10"):
        assert 0 < main[BASELINE][("numpy", "cpu", n_bins)] < 1
        assert is_skipped(main[BASELINE][("pytorch", "cpu", n_bins)])
        assert is_skipped(main[BASELINE][("tensorflow", "cpu", n_bins)])
    # numpy has no GPU device: a skip, with its reason in the log, never a failure.
    assert is_skipped(main[BASELINE][("numpy", "gpu", "1")])
    for table in (main, results_of(work, commits["v0.7.6"])):
        assert None not in table[BASELINE].values()


def test_the_run_log_gives_the_skip_reasons(suite_run):
    _, _, run_log = suite_run
    assert "pyhf removed the pytorch backend (scikit-hep/pyhf PR #2611)" in run_log
    assert "pyhf removed the tensorflow backend (scikit-hep/pyhf PR #2609)" in run_log
    assert "tensorflow backend needs tensorflow, tensorflow_probability, not installed" in run_log
    assert "the numpy backend runs on the CPU only" in run_log


def test_published_reference_cls_is_reproduced_through_the_suite(suite_run):
    from benchmarks.support import pallets

    work, commits, _ = suite_run
    release = results_of(work, commits["v0.7.6"])
    patch = pallets.signal_patch("sbottom/RegionA")
    reference = pallets.reference_results("sbottom/RegionA", patch)
    for backend in ("numpy", "pytorch"):
        measured = release[SBOTTOM][(backend, "cpu", "sbottom/RegionA")]
        if measured is None or is_skipped(measured):
            pytest.fail(f"sbottom/RegionA was not measured on {backend}: {measured}")
        assert measured == pytest.approx(reference["cls_obs"], rel=1e-4)


def test_interpolation_difference_is_tracked(suite_run):
    work, commits, _ = suite_run
    release = results_of(work, commits["v0.7.6"])
    name = "bench_interpolation.Interpolation.track_largest_difference_to_reference"
    assert release[name][("numpy", "cpu", "4p", "small")] < 1e-9
    assert is_skipped(release[name][("numpy", "cpu", "4p", "large")])


def test_dashboard_has_graphs_for_both_commits_with_na_for_the_removed_backend(suite_run):
    work, commits, _ = suite_run
    html = work / "html"
    assert (html / "index.html").is_file()
    index = json.loads((html / "index.json").read_text())
    assert BASELINE in index["benchmarks"]
    hashes = set(index["revision_to_hash"].values())
    assert {commits["v0.7.6"], commits["main"]} <= hashes
    # One graph per branch, machine and environment (graphs/summary/ holds the summary grid).
    (graph,) = [p for p in html.glob("graphs/**/" + BASELINE + ".json")
                if f"machine-{MACHINE}" in str(p)]
    points = json.loads(graph.read_text())
    assert len(points) == 2  # one point per commit
    params = index["benchmarks"][BASELINE]["params"]
    combos = [()]
    for values in params:
        combos = [c + (v.strip("'"),) for c in combos for v in values]
    torch_10 = combos.index(("pytorch", "cpu", "10"))
    numpy_10 = combos.index(("numpy", "cpu", "10"))
    release_point, main_point = sorted(points, key=lambda point: point[0])
    assert release_point[1][torch_10] is not None
    assert main_point[1][torch_10] is None  # shown as n/a
    assert main_point[1][numpy_10] is not None
