"""The GPU study (bench_gpu_study) and its page, with NVML faked where GPU figures are needed."""

import pytest

from benchmarks import bench_gpu_study as study
from benchmarks.support import settings, suite, tracks
from benchmarks.support import utilization as ut
from pyhfbench import gpu_study
from helpers.monitor_fakes import FakeGpu, install_fake_nvml


@pytest.fixture
def quiet_sampler(monkeypatch, tmp_path):
    monkeypatch.setenv("PYHF_BENCH_MONITOR_DIR", str(tmp_path / "series"))
    monkeypatch.setenv("PYHF_BENCH_MACHINE", "box-h200")
    monkeypatch.setenv("ASV_COMMIT", "0" * 40)
    monkeypatch.setenv(settings.MONITOR_SECONDS, "0.2")
    monkeypatch.setenv("PYHF_BENCH_MONITOR_INTERVAL", "0.05")


def test_study_points_measure_throughput_and_fake_gpu_figures(monkeypatch, quiet_sampler):
    install_fake_nvml(monkeypatch, [FakeGpu(0, "NVIDIA H200")])
    measured = study.measure_study("numpy", "cpu", seconds=0.2, batch_sizes=[1, 100])["results"]
    assert set(measured) == {ut.cache_key(p, b) for p in ("64b", "32b") for b in (1, 100)}
    # File the numpy CPU measurements as if on the GPU: the fake NVML sampled them.
    cache = {ut.GPU_REASON_KEY: None, ut.GPU_TROUBLE_KEY: None}
    for key, entry in measured.items():
        assert entry["status"] == "ok", entry
        cache[ut.cache_key("numpy", "gpu", key)] = entry
    bench = study.BatchScaling()
    bench.setup(cache, "numpy", "gpu", "64b", 100)
    assert bench.track_throughput(cache) > 0
    assert 40 <= bench.track_gpu_utilization(cache) <= 100
    assert bench.track_gpu_memory_busy(cache) == 20.0
    ratio = study.PrecisionRatio()
    ratio.setup(cache, "numpy", "gpu", 100)
    expected = (measured[ut.cache_key("64b", 100)]["summary"]["points_per_second"]
                / measured[ut.cache_key("32b", 100)]["summary"]["points_per_second"])
    assert ratio.track_fp64_over_fp32_throughput(cache) == pytest.approx(expected)


def test_cpu_points_skip_gpu_figures_and_large_batches(quiet_sampler):
    entry = ut.measure_one(study.WORKLOAD, "numpy", "cpu", ("64b", 10**5), seconds=0.1)
    assert entry["status"] == "skip" and "for the GPU" in entry["reason"]
    measured = study.measure_study("numpy", "cpu", seconds=0.1, batch_sizes=[10])["results"]
    cache = {ut.cache_key("numpy", "cpu", k): v for k, v in measured.items()}
    bench = study.BatchScaling()
    bench.setup(cache, "numpy", "cpu", "32b", 10)
    assert bench.track_throughput(cache) > 0
    from asv_runner.benchmarks.mark import SkipNotImplemented

    with pytest.raises(SkipNotImplemented, match="device gpu only"):  # n/a, not a failure
        bench.track_gpu_utilization(cache)


@pytest.fixture
def children_without_gpu(monkeypatch):
    """The study's children faked (their kwargs recorded) on a host whose NVML finds no GPU."""
    calls = []

    def child(target, kwargs, timeout):
        calls.append(kwargs)
        return {"status": "ok", "results": {}}

    monkeypatch.setattr(study.child, "run_in_child", child)
    monkeypatch.setattr(study.gpus, "gpu_unavailable_reason", lambda: "no NVIDIA GPU: test")
    return calls


def test_setup_cache_limits_and_reasons(monkeypatch, children_without_gpu):
    calls = children_without_gpu
    monkeypatch.setenv(study.BACKENDS_ENV, "numpy,jax")
    monkeypatch.setenv(study.DEVICES_ENV, "cpu,gpu")
    monkeypatch.setenv(study.BATCH_SIZES_ENV, "1,10")
    cache = study._study_cache(None)
    assert [c["backend"] for c in calls] == ["numpy", "jax"]  # the GPU ones never start
    assert calls[0]["batch_sizes"] == [1, 10]
    assert cache[ut.cache_key("jax", "gpu", "64b", 10)] == {"status": "skip",
                                                           "reason": "no NVIDIA GPU: test"}
    assert ut.cache_key("jax", "cpu", "64b", 1000) not in cache
    with pytest.raises(NotImplementedError, match="not measured"):
        study.BatchScaling().setup(cache, "jax", "cpu", "64b", 1000)


def test_without_a_gpu_the_cpu_points_are_measured_only_when_asked_for(monkeypatch, children_without_gpu):
    calls = children_without_gpu
    for name in (study.BACKENDS_ENV, study.DEVICES_ENV, study.BATCH_SIZES_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(suite.QUICK_RUN_ENV, raising=False)
    cache = study._study_cache(None)
    assert calls == []  # nothing to compare with: no child starts
    with pytest.raises(NotImplementedError, match="comparison for a GPU.*BatchedLogpdf"):
        study.BatchScaling().setup(cache, "numpy", "cpu", "64b", 10)
    monkeypatch.setattr(study.gpus, "gpu_unavailable_reason", lambda: None)  # a GPU host
    study._study_cache(None)
    assert [(c["backend"], c["device"]) for c in calls][:2] == [("numpy", "cpu"), ("jax", "cpu")]


def test_every_study_track_is_declared():
    for cls in (study.BatchScaling, study.PrecisionRatio):
        for name in dir(cls):
            if name.startswith("track_"):
                assert tracks.parse(getattr(cls, name).unit) is not None, name


def test_page_from_stored_results(tmp_path):
    import json

    machine = tmp_path / "results" / "box-h200"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text(json.dumps({"machine": "box-h200", "version": 1}))
    commit = "b500270c6a7744d16b481dfda247c066ef3c2cb4"
    params = [["'jax'"], ["'gpu'"], ["'64b'", "'32b'"], ["1", "10"]]
    result = {
        "commit_hash": commit, "env_name": "existing-py_x", "date": 1704477051000,
        "params": {"machine": "box-h200", "python": "3.12"}, "python": "3.12",
        "requirements": {}, "env_vars": {},
        "result_columns": ["result", "params", "version", "started_at", "duration"],
        "results": {
            "bench_gpu_study.BatchScaling.track_throughput":
                [[1.0e3, 2.0e4, 1.5e3, float("nan")], params, "v", 0, 1],
            "bench_gpu_study.BatchScaling.track_gpu_utilization":
                [[5.0, 60.0, None, 70.0], params, "v", 0, 1],
            "bench_gpu_study.PrecisionRatio.track_fp64_over_fp32_throughput":
                [[0.67, 0.5], [["'jax'"], ["'gpu'"], ["1", "10"]], "v", 0, 1],
        },
        "durations": {}, "version": 2,
    }
    (machine / f"{commit[:8]}-existing-py_x.json").write_text(json.dumps(result))
    rows = gpu_study.study_rows(tmp_path / "results", "box-h200")
    key = (commit, "jax", "gpu")
    assert rows[key]["points"][("64b", 10)]["bench_gpu_study.BatchScaling.track_gpu_utilization"] == 60.0
    assert rows[key]["points"][("32b", 1)]["bench_gpu_study.BatchScaling.track_gpu_utilization"] == "failed"
    assert rows[key]["points"][("32b", 10)]["bench_gpu_study.BatchScaling.track_throughput"] == "skipped"
    assert rows[key]["ratio"] == {1: 0.67, 10: 0.5}
    page = gpu_study.write_page(tmp_path / "results", "box-h200", tmp_path / "out",
                                labels={commit: "v0.7.6"})
    text = page.read_text()
    assert "## pyhf b500270c (v0.7.6): jax on gpu" in text
    assert "| 64b | 10 | 2.000e+04 | 60 |" in text and "| 10 | 0.5 |" in text and "failed" in text
    assert (tmp_path / "out" / f"gpu-study-{commit[:8]}-jax-gpu.png").stat().st_size > 1000
