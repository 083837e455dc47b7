"""The GPU acceptance command: its plan, and its CPU mode end to end on the offline-node path
(wheels of v0.7.6 and main's tip from the bundle, a CPU-only host)."""

import json
import re
import sys

import pytest

from pyhfbench import acceptance, offline_node

SUITE = ("bench_hypotest.AsymptoticCLs.time_hypotest_warm",
         "bench_fit.MaximumLikelihoodFit.time_unconditional_fit",
         "bench_model.BatchedLogpdf.time_batched_logpdf")


def selected(part, name, params):
    return any(re.search(regex, f"{name}({', '.join(params)})") for regex in part.bench)


def test_gpu_plan_selects_the_gpu_combinations_of_the_issue():
    main, release = acceptance.plan("gpu")
    assert (main.revision, main.backends) == ("main", ("jax",))
    assert (release.revision, release.backends) == ("v0.7.6", ("jax", "pytorch"))
    small = "'generated/small'"
    for part in (main, release):
        for backend in ("'jax'", "'pytorch'", "'numpy'"):
            wanted = backend.strip("'") in part.backends
            assert selected(part, SUITE[0], [backend, "'gpu'", small]) == wanted
            assert selected(part, SUITE[1], [backend, "'gpu'", "'scipy'", small]) == wanted
            assert selected(part, SUITE[2], [backend, "'gpu'", "'32b'", "1000"]) == wanted
            assert selected(part, "bench_utilization.LogpdfUtilization.track_gpu_memory_busy",
                            [backend, "'gpu'", "'64b'", "10000"]) == wanted
            for batch in ("1", "1000000"):
                assert selected(part, "bench_gpu_study.BatchScaling.track_gpu_utilization",
                                [backend, "'gpu'", "'32b'", batch]) == wanted
        assert not selected(part, SUITE[0], ["'jax'", "'cpu'", small])
        assert part.env["PYHF_BENCH_STUDY_BATCH_SIZES"] == "1,10,100,1000,10000,100000,1000000"
        assert part.env["PYHF_BENCH_STUDY_DEVICES"] == "gpu"


def test_cpu_plan_is_the_same_plan_on_the_cpu():
    for part in acceptance.plan("cpu"):
        assert not any("'gpu'" in regex for regex in part.bench)
        assert selected(part, SUITE[0], ["'jax'", "'cpu'", "'generated/small'"])
        assert selected(part, "bench_gpu_study.BatchScaling.track_throughput",
                        ["'jax'", "'cpu'", "'64b'", "100"])
        assert part.env["PYHF_BENCH_STUDY_DEVICES"] == "cpu"


def test_without_a_gpu_the_gpu_run_stops_at_once(monkeypatch, tmp_path):
    monkeypatch.setattr(acceptance.wheelhouse, "verify", lambda path: {"pyhf": []})
    monkeypatch.setattr(acceptance, "gpu_description",
                        lambda: {"gpus": [], "reason": "no NVIDIA GPU: test", "driver": None})
    with pytest.raises(offline_node.NodeError, match="no GPU for the acceptance run: no NVIDIA GPU: test"):
        acceptance.run_acceptance(tmp_path, tmp_path / "out")


@pytest.mark.slow
def test_cpu_mode_end_to_end(built_wheelhouse, tmp_path):
    dest, manifest = built_wheelhouse
    summary = acceptance.run_acceptance(dest, tmp_path / "out", sys.executable,
                                        machine="acceptance-test-cpu", cpu=True,
                                        machine_file=tmp_path / "machine.json", log=lambda m: None)
    assert summary["gpu_trouble"] == []
    assert [p["status"] for p in summary["parts"]] == [0, 0]
    commits = {e["revision"]: e["commit"] for e in manifest["pyhf"]}
    measured = {(f["commit"], f["benchmark"], tuple(f["params"])): f["value"]
                for f in summary["figures"] if f["state"] == "ok"}
    small = "'generated/small'"
    for revision, backends in (("main", ["'jax'"]), ("v0.7.6", ["'jax'", "'pytorch'"])):
        commit = commits[revision]
        for backend in backends:
            assert measured[(commit, SUITE[0], (backend, "'cpu'", small))] > 0
            assert measured[(commit, SUITE[1], (backend, "'cpu'", "'scipy'", small))] > 0
            assert measured[(commit, SUITE[2], (backend, "'cpu'", "'64b'", "1000"))] > 0
            for precision in ("'32b'", "'64b'"):
                assert measured[(commit, "bench_gpu_study.BatchScaling.track_throughput",
                                 (backend, "'cpu'", precision, "100"))] > 0
            assert measured[(commit, "bench_gpu_study.PrecisionRatio.track_fp64_over_fp32_throughput",
                             (backend, "'cpu'", "100"))] > 0
    assert not any(f["state"] == "failed" for f in summary["figures"])
    page = (tmp_path / "out" / "gpu-study.md").read_text()
    assert f"pyhf {commits['v0.7.6'][:8]} (v0.7.6): pytorch on cpu" in page
    assert (tmp_path / "out" / f"gpu-study-{commits['main'][:8]}-jax-cpu.png").is_file()
    report = (tmp_path / "out" / "acceptance.md").read_text()
    assert "suite and study at v0.7.6" in report and SUITE[0] in report
    assert json.loads((tmp_path / "out" / "acceptance.json").read_text())["device"] == "cpu"
    # Ordinary asv results for the commits, under the machine.
    results = tmp_path / "out" / "results" / "acceptance-test-cpu"
    assert {p.name[:8] for p in results.glob("*-existing-py_*.json")} == {c[:8] for c in commits.values()}
