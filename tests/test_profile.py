"""The profile command: benchmark resolution, the summary of a cProfile, and a real run.

Fast: resolving names and parameters against a benchmarks.json, and the
summary of a profile of numpy code made here. Slow: ``scripts/profile`` on
one benchmark of the real reduced run (asv profile in its environment), the
report listing it, and a skipped combination refused with its reason.
"""

import cProfile
import json
import pstats
import subprocess
import sys

import pytest

from pyhfbench import profile as prof
from pyhfbench import report
from helpers.report_shared import REPO_ROOT, real_results

TIME = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"


@pytest.fixture
def known(tmp_path):
    specs = {
        "version": 2,
        TIME: {"name": TIME, "param_names": ["backend", "device", "n_bins"],
               "params": [["'numpy'", "'jax'"], ["'cpu'", "'gpu'"], ["1", "10"]]},
        "bench_threads.HypotestThreads.time_hypotest": {
            "name": "bench_threads.HypotestThreads.time_hypotest",
            "param_names": ["backend", "device", "threads"],
            "params": [["'numpy'"], ["'cpu'"], ["1", "2"]]},
        "bench_fit.MaximumLikelihoodFit.time_unconditional_fit": {
            "name": "bench_fit.MaximumLikelihoodFit.time_unconditional_fit",
            "param_names": ["backend", "device"], "params": [["'numpy'"], ["'cpu'"]]},
    }
    (tmp_path / "benchmarks.json").write_text(json.dumps(specs))
    return tmp_path


def test_resolve_names_and_parameters(known):
    name, chosen, asv_name = prof.resolve_benchmark(
        "HypotestUncorrelatedBackground.time_hypotest", {"n_bins": "10", "backend": "jax"}, known)
    assert name == TIME
    assert chosen == {"backend": "jax", "device": "cpu", "n_bins": "10"}
    assert asv_name == f"{TIME}('jax', 'cpu', 10)"
    assert prof.label_of(name, chosen) == f"{TIME}-jax-cpu-10"
    assert prof.resolve_benchmark("MaximumLikelihoodFit.time_unconditional_fit", {}, known)[2] \
        == "bench_fit.MaximumLikelihoodFit.time_unconditional_fit('numpy', 'cpu')"
    explicit = f"{TIME}('numpy', 'gpu', 1)"
    assert prof.resolve_benchmark(explicit, {}, known)[2] == explicit
    with pytest.raises(prof.ProfileError, match="matches"):
        prof.resolve_benchmark("time_hypotest", {}, known)
    with pytest.raises(prof.ProfileError, match="no benchmark named"):
        prof.resolve_benchmark("Nothing.time_x", {}, known)
    with pytest.raises(prof.ProfileError, match="n_bins=7 is not one of 1, 10"):
        prof.resolve_benchmark(TIME, {"n_bins": "7"}, known)
    with pytest.raises(prof.ProfileError, match="has no parameter precision"):
        prof.resolve_benchmark(TIME, {"precision": "32b"}, known)


def test_resolve_from_the_suite_source_without_results(tmp_path):
    name, chosen, asv_name = prof.resolve_benchmark(
        "bench_interpolation.Interpolation.time_tensorized", {"code": "4p"}, tmp_path,
        REPO_ROOT / "benchmarks")
    assert chosen == {"backend": "numpy", "device": "cpu", "code": "4p", "size": "small"}
    assert asv_name == "bench_interpolation.Interpolation.time_tensorized('numpy', 'cpu', '4p', 'small')"


def _workload():
    import numpy as np

    total = 0.0
    for _ in range(30):
        a = np.random.default_rng(0).normal(size=(120, 120))
        total += float(np.linalg.inv(a @ a.T + np.eye(120)).sum())
        total += sum(float(x) for x in a[0])
    return total


def test_summary_of_a_profile(tmp_path):
    path = tmp_path / "profile.prof"
    profiler = cProfile.Profile()
    profiler.runcall(_workload)
    profiler.dump_stats(path)
    summary = prof.write_outputs(path, tmp_path / "out", "a numpy workload", {"commit": "`x`"})
    areas = dict(summary["areas"])
    assert "numpy" in areas
    assert sum(areas.values()) == pytest.approx(summary["total"], rel=0.05)
    assert summary["hot_path"][0][0].endswith("(_workload)")
    assert summary["own"] and summary["cumulative"]
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "## Where the time goes, by package" in text and "| numpy |" in text
    assert "## Hot path" in text and "_workload" in text
    assert (tmp_path / "out" / "where-time-goes.png").read_bytes()[:4] == b"\x89PNG"
    assert "by cumulative time" in (tmp_path / "out" / "profile.txt").read_text()


@pytest.mark.slow
def test_profile_command_on_one_benchmark_of_the_real_run(tmp_path_factory):
    run = real_results(tmp_path_factory)
    command = [sys.executable, str(REPO_ROOT / "scripts" / "profile"),
               "HypotestUncorrelatedBackground.time_hypotest", "main", "--param", "n_bins=10",
               "--config", str(run.config)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=run.env)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = run.results_dir / "profiles" / run.commit / f"{TIME}-numpy-cpu-10"
    assert f"Summary: {folder / 'summary.md'}" in result.stdout
    assert "Where the time goes" in result.stdout and "pyhf" in result.stdout
    stats = pstats.Stats(str(folder / "profile.prof"))
    assert any("pyhf/infer" in f[0] for f in stats.stats)
    summary = (folder / "summary.md").read_text()
    assert f"`{TIME}('numpy', 'cpu', 10)`" in summary
    assert f"`{run.commit}` (main)" in summary
    for package in ("| scipy |", "| pyhf.tensor |", "| numpy |"):
        assert package in summary
    assert "pyhf/infer/__init__.py" in summary.split("## Hot path")[1]
    assert (folder / "where-time-goes.png").is_file() and (folder / "asv-profile.log").is_file()

    # The report at that commit lists it.
    built = report.build_report(run.results_dir, run.work / "report-with-profile",
                                html_dir=run.work / "no-html")
    page = built["index"].read_text()
    assert f"profiles/{run.commit[:8]}/{TIME}-numpy-cpu-10/summary.md" in page

    # A skipped combination has no profile: refused with asv's reason.
    skipped = subprocess.run(command[:-2] + ["--param", "backend=jax", "--config", str(run.config)],
                             capture_output=True, text=True, cwd=REPO_ROOT, env=run.env)
    assert skipped.returncode == 1
    assert "skipped here (n/a), no profile: jax backend needs jax, jaxlib, not installed" in skipped.stderr
