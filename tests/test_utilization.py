"""The utilization benchmarks: workloads under the sampler (real psutil), tracks, pages.

NVML is faked (per pynvml call, tests/helpers/monitor_fakes.py) only to exercise
the GPU tracks on a machine without a GPU.
"""

import inspect
import json
import shutil
import time
from pathlib import Path

import pytest

from benchmarks import bench_utilization as bu
from benchmarks.common import SkipNotImplemented
from benchmarks.support import child, gpus, monitor, settings, tracks
from benchmarks.support import utilization as ut
from helpers.monitor_fakes import FakeGpu, install_fake_nvml, pynvml, real_gpu_count

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HAS_GPU = real_gpu_count() > 0
PREFIXES = ("time_", "track_", "peakmem_", "mem_", "timeraw_")


@pytest.fixture
def asv_like_env(monkeypatch, tmp_path):
    """What asv sets for a benchmark, with the series going to tmp_path/results."""
    results = tmp_path / "results"
    monkeypatch.setenv(monitor.DIR_ENV, str(results))
    monkeypatch.setenv(monitor.MACHINE_ENV, "box-cpu")
    monkeypatch.setenv("ASV_COMMIT", COMMIT)
    monkeypatch.setenv(settings.MONITOR_SECONDS, "0.3")
    monkeypatch.setenv(monitor.INTERVAL_ENV, "0.05")
    monkeypatch.delenv("ASV_CONF_DIR", raising=False)
    return results


@pytest.fixture(scope="module")
def numpy_cache(tmp_path_factory):
    """setup_cache of the interpolation workload for numpy: real child processes, real psutil."""
    mp = pytest.MonkeyPatch()
    results = tmp_path_factory.mktemp("cache") / "results"
    for key, value in ((monitor.DIR_ENV, str(results)), (monitor.MACHINE_ENV, "box-cpu"),
                       ("ASV_COMMIT", COMMIT), (settings.MONITOR_SECONDS, "0.3"),
                       (monitor.INTERVAL_ENV, "0.05")):
        mp.setenv(key, value)
    try:
        started = time.monotonic()
        cache = ut.measure_all("interpolation", backend_names=["numpy"])
        cache["_seconds"] = time.monotonic() - started
    finally:
        mp.undo()
    return cache, results


def call(bench_class, cache, *params, method):
    bench = bench_class()
    bench.setup(cache, *params)
    return getattr(bench, method)(cache, *params)


# --------------------------------------------------------------------------- workloads


def test_a_workload_under_the_sampler_writes_its_series(asv_like_env):
    result = ut.measure_one("logpdf", "numpy", "cpu", ("32b", 100))
    assert result["status"] == "ok", result
    summary = result["summary"]
    assert summary["calls"] >= 1 and summary["samples"] >= 3
    assert summary["cpu"]["cpu_percent_mean"] > 0 and summary["cpu"]["rss_peak"] > 2**20
    assert summary["workload"]["batch_size"] == 100 and summary["workload"]["precision"] == "32b"
    folder = asv_like_env / "box-cpu" / "utilization" / COMMIT / "logpdf-numpy-cpu-32b-100"
    assert summary["series"] == str(folder)
    records = monitor.read_events(folder / monitor.EVENTS_FILE)
    assert records[0]["workload"] == "logpdf" and records[0]["commit"] == COMMIT
    assert records[-1]["event"] == "stop"
    # The plots are drawn at page build (test_utilization_pages_after_publish), not here.
    assert not list(folder.glob("*.png"))


@pytest.mark.parametrize("workload, extra", [("fit", ()), ("toys", ()),
                                             ("interpolation", ("4p",))])
def test_every_workload_runs_on_numpy(asv_like_env, monkeypatch, workload, extra):
    monkeypatch.setitem(ut.N_TOYS, "cpu", 1)
    monkeypatch.setitem(ut.INTERPOLATION_SIZES, "cpu", (10, 5, 50, 10))
    result = ut.measure_one(workload, "numpy", "cpu", extra, seconds=0.05)
    assert result["status"] == "ok", result
    assert result["summary"]["calls"] >= 1


def test_a_combination_that_cannot_run_is_a_skip_with_its_reason():
    assert ut.measure_one("fit", "numpy", "gpu")["reason"] == "the numpy backend runs on the CPU only"
    assert ut.precheck("numpy", "gpu", None) == "the numpy backend runs on the CPU only"
    assert ut.precheck("pytorch", "gpu", "no NVIDIA GPU: because") == "no NVIDIA GPU: because"
    assert ut.precheck("numpy", "gpu", "no NVIDIA GPU: because") == (
        "the numpy backend runs on the CPU only")
    assert ut.precheck("numpy", "cpu", "no NVIDIA GPU: because") is None


# --------------------------------------------------------------------------- setup_cache and tracks


def test_setup_cache_measures_each_combination_in_a_child(numpy_cache):
    cache, results = numpy_cache
    assert cache["_seconds"] < 60
    for code in ut.INTERPOLATION_CODES:
        entry = cache[ut.cache_key("numpy", "cpu", code)]
        assert entry["status"] == "ok", entry
        assert entry["summary"]["samples"] >= 3
        assert Path(entry["summary"]["series"]).parent == results / "box-cpu" / "utilization" / COMMIT
        assert cache[ut.cache_key("numpy", "gpu", code)] == {
            "status": "skip", "reason": "the numpy backend runs on the CPU only"}
    assert not [k for k in cache if k.startswith(("jax", "pytorch", "tensorflow"))]


def test_cpu_tracks_produce_values(numpy_cache):
    cache, _ = numpy_cache
    cpu = call(bu.InterpolationUtilization, cache, "numpy", "cpu", "0", method="track_cpu_percent")
    rss = call(bu.InterpolationUtilization, cache, "numpy", "cpu", "4p", method="track_peak_rss")
    assert 0 < cpu < 400
    assert 10 < rss < 10000  # MiB
    assert bu.InterpolationUtilization.track_cpu_percent.unit == "% of one core [higher is better, 60%, at least 50]"
    assert bu.InterpolationUtilization.track_peak_rss.unit == "MiB [lower is better]"


GPU_TRACKS = ("track_gpu_utilization_mean", "track_gpu_utilization_peak", "track_gpu_memory_busy",
              "track_gpu_memory_peak", "track_gpu_process_memory_peak")


def test_gpu_tracks_are_na_on_device_cpu_with_their_reason_recorded(numpy_cache, monkeypatch, tmp_path):
    cache, _ = numpy_cache
    monkeypatch.setenv(settings.SKIP_LOG, str(tmp_path))
    monkeypatch.setenv("ASV_COMMIT", COMMIT)
    monkeypatch.setenv("ASV_ENV_NAME", "env")
    for name in GPU_TRACKS:
        with pytest.raises(SkipNotImplemented, match="measured on device gpu only"):  # n/a, not a failure
            call(bu.InterpolationUtilization, cache, "numpy", "cpu", "0", method=name)
    records = [json.loads(line) for line in (tmp_path / f"{COMMIT[:8]}-env.jsonl").read_text().splitlines()]
    assert len(records) == len(GPU_TRACKS)
    assert {(r["benchmark_class"], tuple(r["params"]), r["kind"]) for r in records} == {
        ("bench_utilization.InterpolationUtilization", ("'numpy'", "'cpu'", "'0'"), "unavailable")}


def test_on_device_gpu_without_a_gpu_sampled_the_gpu_tracks_are_na_and_the_cpu_tracks_measure():
    entry = {"status": "ok", "summary": {"cpu": {"cpu_percent_mean": 97.0, "rss_peak": 300 * monitor.MIB},
                                         "gpu": None, "gpu_reason": "no NVIDIA GPU: because",
                                         "notes": []}}
    cache = {ut.cache_key("jax", "gpu"): entry}
    assert call(bu.FitUtilization, cache, "jax", "gpu", method="track_cpu_percent") == 97.0
    assert call(bu.FitUtilization, cache, "jax", "gpu", method="track_peak_rss") == 300.0
    for name in GPU_TRACKS:
        with pytest.raises(SkipNotImplemented, match="no NVIDIA GPU: because"):
            call(bu.FitUtilization, cache, "jax", "gpu", method=name)


@pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA GPU")
def test_without_a_gpu_the_gpu_combinations_skip_with_nvml_reason(numpy_cache, monkeypatch):
    cache, _ = numpy_cache
    reason = monitor.gpu_unavailable_reason()
    assert reason.startswith("no NVIDIA GPU") and cache[ut.GPU_REASON_KEY] == reason
    with pytest.raises(NotImplementedError, match="the numpy backend runs on the CPU only"):
        bu.InterpolationUtilization().setup(cache, "numpy", "gpu", "0")
    # No child is started for a GPU combination without a GPU: NVML's reason, for every track.
    monkeypatch.setattr(child, "run_in_child", lambda *a, **k: {"status": "ok", "results": []})
    measured = ut.measure_all("fit", backend_names=["jax"])
    with pytest.raises(NotImplementedError) as err:
        bu.FitUtilization().setup(measured, "jax", "gpu")
    assert str(err.value) == reason
    # The CPU side of the same measurement was sampled without GPU: its GPU part says why.
    entry = cache[ut.cache_key("numpy", "cpu", "0")]
    assert entry["summary"]["gpu"] is None and entry["summary"]["gpu_reason"] == reason


def fake_gpu_entry(monkeypatch, fail_after=None, n_gpus=2):
    """A measurement of the numpy workload while a fake NVML reports GPU 0 busy for this process."""
    fake = install_fake_nvml(monkeypatch, [FakeGpu(0), FakeGpu(1, "NVIDIA L4")][:n_gpus])
    monkeypatch.setitem(ut.INTERPOLATION_SIZES, "cpu", (10, 5, 50, 10))
    if fail_after is not None:
        fake.gpus[0].fail_code, fake.gpus[0].fail_after = pynvml.NVML_ERROR_GPU_IS_LOST, fail_after
    entry = ut.measure_one("interpolation", "numpy", "cpu", ("0",), seconds=0.4, interval=0.05)
    assert entry["status"] == "ok"
    return {ut.cache_key("numpy", "gpu", "0"): entry}


def test_gpu_tracks_with_nvml_faked(monkeypatch, asv_like_env):
    cache = fake_gpu_entry(monkeypatch)
    params = ("numpy", "gpu", "0")
    cls = bu.InterpolationUtilization
    mean = call(cls, cache, *params, method="track_gpu_utilization_mean")
    peak = call(cls, cache, *params, method="track_gpu_utilization_peak")
    assert 40 <= mean <= peak <= 100
    assert call(cls, cache, *params, method="track_gpu_memory_busy") == 20.0
    assert call(cls, cache, *params, method="track_gpu_process_memory_peak") == 3072.0
    # Only GPU 0 runs this process, so GPU 1's memory does not count.
    used = call(cls, cache, *params, method="track_gpu_memory_peak")
    assert 0 < used <= 80 * 1024
    for name in ("track_gpu_utilization_mean", "track_gpu_utilization_peak",
                 "track_gpu_memory_busy", "track_gpu_memory_peak", "track_gpu_process_memory_peak"):
        assert tracks.parse(getattr(cls, name).unit).unit in ("%", "MiB")


@pytest.mark.parametrize("fail_after", [15, 0])
def test_a_gpu_lost_mid_run_fails_its_tracks_with_the_reason(monkeypatch, asv_like_env, fail_after):
    cache = fake_gpu_entry(monkeypatch, fail_after=fail_after, n_gpus=1)
    with pytest.raises(monitor.GpuTrouble, match="lost mid-run.*stopped answering NVML.*GpuIsLost"):
        call(bu.InterpolationUtilization, cache, "numpy", "gpu", "0",
             method="track_gpu_utilization_mean")


def test_nvml_trouble_fails_the_gpu_tracks_and_leaves_the_cpu_tracks_measured(monkeypatch):
    def trouble():
        raise monitor.GpuTrouble("NVML could not start (NVMLError_Unknown: Unknown Error)")

    monkeypatch.setattr(gpus, "gpu_unavailable_reason", trouble)
    measured = {"status": "ok", "summary": {"cpu": {}, "gpu": None, "notes": []}}
    monkeypatch.setattr(child, "run_in_child", lambda *a, **k: {"status": "ok", "results": [measured]})
    cache = ut.measure_all("fit", backend_names=["jax"])
    assert cache[ut.GPU_TROUBLE_KEY].startswith("NVML could not start")
    assert cache[ut.cache_key("jax", "gpu")]["status"] == "error"
    assert cache[ut.cache_key("jax", "cpu")] == measured
    with pytest.raises(monitor.GpuTrouble, match="NVMLError_Unknown"):
        bu.FitUtilization().setup(cache, "jax", "gpu")


def test_a_failed_workload_fails_its_tracks():
    cache = {ut.cache_key("numpy", "cpu"): {"status": "error", "reason": "boom", "stderr": ""}}
    with pytest.raises(RuntimeError, match="boom"):
        call(bu.FitUtilization, cache, "numpy", "cpu", method="track_cpu_percent")


def test_child_failures_and_timeouts_are_reported_not_raised():
    failed = child.run_in_child("support.utilization:measure_workload",
                                  {"workload": "nope", "backend": "numpy", "device": "cpu"})
    assert failed["status"] == "error" and "KeyError" in failed["reason"]
    started = time.monotonic()
    slow = child.run_in_child("support.utilization:measure_workload",
                                {"workload": "interpolation", "backend": "numpy", "device": "cpu",
                                 "seconds": 60}, timeout=3)
    assert time.monotonic() - started < 10
    assert slow["status"] == "error" and "ran past 3 s" in slow["reason"]


# --------------------------------------------------------------------------- what asv sees


def asv_benchmarks(module):
    """(class or None, name) of what asv collects from ``module`` (same rules as asv_runner)."""
    found = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.isfunction(value) and name.startswith(PREFIXES):
            found.append((None, name))
        if not inspect.isclass(value):
            continue
        for attr, member in inspect.getmembers(value):
            if inspect.isfunction(member) and attr.startswith(PREFIXES):
                found.append((value, attr))
    return found


WORKLOAD_CLASSES = ("FitUtilization", "ToysUtilization", "LogpdfUtilization", "InterpolationUtilization")
CPU_TRACKS = ("track_cpu_percent", "track_peak_rss")


def test_asv_sees_one_class_per_workload_with_every_track_over_both_devices():
    from asv_runner.benchmarks._base import get_setup_cache_key
    from asv_runner.discovery import _get_benchmark

    found = asv_benchmarks(bu)
    assert {cls.__name__ for cls, _ in found} == set(WORKLOAD_CLASSES) | {"SamplerOverhead", "SamplerCost"}
    for cls, attr in found:
        bench = _get_benchmark(attr, bu, cls, getattr(cls, attr))
        assert bench is not None and bench.check(str(REPO_ROOT / "benchmarks")), (cls, attr)
        if attr.startswith("track_"):
            assert tracks.parse(getattr(cls, attr).unit) is not None, (cls, attr)
    keys = set()
    for name in WORKLOAD_CLASSES:
        cls = getattr(bu, name)
        assert {attr for c, attr in found if c is cls} == set(CPU_TRACKS + GPU_TRACKS)
        assert cls.params[:2] == [["numpy", "jax", "pytorch", "tensorflow"], ["cpu", "gpu"]]
        assert cls.version == "1" and cls().setup_cache.timeout == ut.CACHE_TIMEOUT
        keys.add(get_setup_cache_key(cls().setup_cache))
    assert len(keys) == 4  # one measurement per workload
    assert bu.LogpdfUtilization.param_names == ["backend", "device", "precision", "batch_size"]
    assert bu.InterpolationUtilization.param_names == ["backend", "device", "code"]
    # The machinery has nothing asv would take for a benchmark.
    assert asv_benchmarks(ut) == []


def test_the_quick_suite_takes_the_cpu_tracks_of_numpy_fits_and_the_sampler_cost():
    from benchmarks.support import suite

    regexes = suite.quick_regexes([(m, c) for m, c in suite.suite_classes() if m == bu.__name__])
    assert regexes == [rf"^bench_utilization\.FitUtilization\.{t}\((?:'numpy',\ 'cpu')\)$"
                       for t in CPU_TRACKS] + [
        rf"^bench_utilization\.SamplerCost\.{t}\((?:'numpy',\ 'cpu')\)$"
        for t in ("track_sampler_cpu_per_sample", "track_sampler_overhead")]
    # The quick declaration is FitUtilization's own: the other workloads' tracks are left as they were.
    assert suite.quick_declaration(bu.ToysUtilization, "track_cpu_percent") is None
    assert bu.FitUtilization.track_peak_rss.unit == bu.ToysUtilization.track_peak_rss.unit


# --------------------------------------------------------------------------- sampler overhead


def test_sampler_overhead_benchmarks(monkeypatch):
    monkeypatch.setenv(monitor.INTERVAL_ENV, "0.02")
    monkeypatch.setattr(ut, "OVERHEAD_BINS", 10)
    bench = bu.SamplerOverhead()
    bench.setup("numpy", "cpu", "on")
    assert bench.sampler is not None
    bench.time_fit("numpy", "cpu", "on")
    bench.teardown("numpy", "cpu", "on")
    assert bench.sampler.summary()["samples"] >= 1
    off = bu.SamplerOverhead()
    off.setup("numpy", "cpu", "off")
    assert off.sampler is None
    result = ut.measure_overhead(off.fit, rounds=2, calls=3)
    assert result["off_s"] > 0 and result["on_s"] > 0 and result["calls"] == 6
    assert result["ms_per_sample"] > 0
    skipped = bu.SamplerOverhead()
    with pytest.raises(NotImplementedError):
        skipped.setup("numpy", "gpu", "on")
    skipped.teardown("numpy", "gpu", "on")  # asv tears down after a skipped setup too
    cost = bu.SamplerCost()
    cost.setup("numpy", "cpu")
    assert cost.track_sampler_cpu_per_sample("numpy", "cpu") > 0
    assert isinstance(cost.track_sampler_overhead("numpy", "cpu"), float)


# --------------------------------------------------------------------------- dashboard pages


def test_utilization_pages_after_publish(numpy_cache, tmp_path):
    from asv.results import iter_results_paths
    from pyhfbench.utilization_pages import add_utilization_pages

    _, results = numpy_cache
    machine = results / "box-cpu"
    (machine / "machine.json").write_text(json.dumps({"machine": "box-cpu", "version": 1}))
    (machine / f"{COMMIT[:8]}-virtualenv-py3.11.json").write_text(json.dumps(
        {"commit_hash": COMMIT, "date": 1700000000000, "version": 2}))
    # asv reads only its own result file, not the time series beside it.
    assert [name for _, name, _ in iter_results_paths(str(results))] == [
        f"{COMMIT[:8]}-virtualenv-py3.11.json"]

    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text("<html><body>asv</body></html>")
    index = add_utilization_pages(results, html, monitor_dir=str(tmp_path / "none"))
    assert index == html / "utilization" / "index.html"
    page = index.read_text()
    assert "box-cpu" in page and COMMIT[:12] in page and "2023-11-14" in page
    for code in ut.INTERPOLATION_CODES:
        name = f"interpolation-numpy-cpu-{code}"
        assert name in page
        copied = html / "utilization" / "box-cpu" / COMMIT / name
        assert (copied / monitor.EVENTS_FILE).is_file()
        # Drawn at page build, beside the series (drawn once) and in its copy.
        assert (results / "box-cpu" / "utilization" / COMMIT / name / "CPU_Utilization.png").is_file()
        assert (copied / "CPU_Utilization.png").is_file()
        assert f"{name}/CPU_Utilization.png" in page
    add_utilization_pages(results, html)
    assert (html / "index.html").read_text().count("utilization/index.html") == 1


def test_pages_draw_plots_into_the_copy_of_a_read_only_series_and_note_a_broken_one(
        monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    from pyhfbench.utilization_pages import add_utilization_pages

    series = tmp_path / "results" / "box-cpu" / "utilization" / COMMIT
    copy = shutil.copy2

    def read_only_results(source, destination):  # this test runs as root: chmod can't
        if Path(destination).is_relative_to(series / "read-only"):
            raise PermissionError(13, "Permission denied", str(destination))
        return copy(source, destination)

    monkeypatch.setattr(shutil, "copy2", read_only_results)
    for name in ("read-only", "broken"):
        (series / name).mkdir(parents=True)
    with monitor.Sampler(interval=0.05, events_path=series / "read-only" / monitor.EVENTS_FILE,
                         meta={"workload": "sleep"}):
        time.sleep(0.3)
    (series / "broken" / monitor.EVENTS_FILE).write_text('{"event": "sample", "t": 1, "cpu": 5}\n')
    index = add_utilization_pages(tmp_path / "results", tmp_path / "html", link=False)
    assert not list((series / "read-only").glob("*.png"))
    copies = tmp_path / "html" / "utilization" / "box-cpu" / COMMIT
    assert (copies / "read-only" / "CPU_Utilization.png").is_file()
    page = index.read_text()
    assert "read-only/CPU_Utilization.png" in page
    assert "plots failed" in page and not list((series / "broken").glob("*.png"))


def test_pages_without_series(tmp_path):
    from pyhfbench.utilization_pages import add_utilization_pages

    index = add_utilization_pages(tmp_path / "results", tmp_path / "html", link=False)
    assert "No time series yet" in index.read_text()


def test_scripts_monitor_workload_and_pages(monkeypatch, tmp_path, capsys):
    from pyhfbench import monitor_cli

    monkeypatch.setitem(ut.INTERPOLATION_SIZES, "cpu", (10, 5, 50, 10))
    out = tmp_path / "w"
    assert monitor_cli.main(["workload", "interpolation", "--param", "4p", "--seconds", "0.1",
                             "--interval", "0.02", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "interpolation-numpy-cpu-4p:" in printed and "CPU: mean" in printed
    assert "plots" in printed and (out / "CPU_Utilization.png").is_file()  # matplotlib: requirements.txt
    assert monitor.read_events(out / monitor.EVENTS_FILE)[-1]["event"] == "stop"
    assert monitor_cli.main(["workload", "logpdf"]) == 2  # precision and batch size missing
    assert monitor_cli.main(["workload", "fit", "--device", "gpu"]) == 0
    assert "skip: the numpy backend runs on the CPU only" in capsys.readouterr().out
    assert monitor_cli.main(["pages", "--results-dir", str(tmp_path / "r"),
                             "--html-dir", str(tmp_path / "h")]) == 0
    assert (tmp_path / "h" / "utilization" / "index.html").is_file()
