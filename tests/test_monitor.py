"""The utilization sampler: psutil for real; NVML real where there is a GPU, else faked per call."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.support import monitor, settings
from helpers.monitor_fakes import FakeGpu, install_fake_nvml, pynvml, real_gpu_count

REPO_ROOT = Path(__file__).resolve().parents[1]
HAS_GPU = real_gpu_count() > 0


def busy(seconds):
    """Hold the CPU (and the GIL, partly) for ``seconds``."""
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += sum(i * i for i in range(2000))
    return x


def busy_until(sampler, samples, timeout=60.0):
    """Hold the CPU until ``sampler`` has taken ``samples`` samples: a loaded machine takes longer.

    The timeout only guards against a sampler that stopped sampling."""
    deadline = time.monotonic() + timeout
    while len(sampler.samples) < samples:
        assert time.monotonic() < deadline, f"{len(sampler.samples)} samples in {timeout} s"
        busy(0.01)


@pytest.fixture
def gpus(monkeypatch):
    """The real NVML where this machine has a GPU, else two fake H100s with this process on GPU 0."""
    if HAS_GPU:
        return None
    return install_fake_nvml(monkeypatch, [FakeGpu(0), FakeGpu(1)])


def events_of(path):
    return monitor.read_events(path)


# --------------------------------------------------------------------------- CPU side, real psutil


def test_cpu_sampling_with_real_psutil(tmp_path):
    events = tmp_path / "series" / monitor.EVENTS_FILE
    sampler = monitor.Sampler(interval=0.05, gpus=False, events_path=events,
                              meta={"workload": "busy"})
    with sampler:
        busy_until(sampler, 4)
        blob = bytearray(64 * 2**20)  # 64 MiB more RSS
        busy(0.2)
    summary = sampler.summary()
    # No CPU % floor: on a loaded machine the busy loop gets what it gets.
    assert summary["samples"] >= 2
    assert summary["cpu"]["cpu_percent_mean"] > 0
    assert summary["cpu"]["rss_peak"] > 64 * 2**20
    assert summary["sampler_cpu_s"] is not None and summary["sampler_ms_per_sample"] > 0
    assert summary["gpu"] is None and summary["gpu_reason"] == "GPU sampling switched off"
    records = events_of(events)
    assert records[0]["event"] == "start" and records[0]["workload"] == "busy"
    assert records[-1]["event"] == "stop"
    assert records[-1]["summary"]["samples"] == summary["samples"]
    samples = [r for r in records if r["event"] == "sample"]
    assert len(samples) == summary["samples"]
    for key in ("cpu_percent", "rss", "system_memory_used", "disk_read", "net_recv"):
        assert key in samples[-1]["cpu"]
    assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)
    del blob


def test_a_workload_shorter_than_the_interval_still_gets_a_sample():
    with monitor.Sampler(interval=5.0, gpus=False) as sampler:
        pass
    assert sampler.summary()["samples"] == 1


def test_stop_is_idempotent_and_start_only_once():
    sampler = monitor.Sampler(interval=0.05, gpus=False).start()
    first = sampler.stop()
    assert sampler.stop() is first
    with pytest.raises(RuntimeError):
        sampler.start()


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.setenv(monitor.INTERVAL_ENV, "0.25")
    assert monitor.Sampler(gpus=False).interval == 0.25
    monkeypatch.setenv(monitor.INTERVAL_ENV, "soon")
    with pytest.raises(ValueError):
        monitor.configured_interval()
    monkeypatch.setenv(monitor.INTERVAL_ENV, "0")
    with pytest.raises(ValueError):
        monitor.configured_interval()


def test_a_process_that_ends_ends_the_series_with_a_note():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    sampler = monitor.Sampler(interval=0.05, pid=proc.pid, follow_children=True, gpus=False)
    sampler.start()
    proc.wait()
    time.sleep(0.3)
    summary = sampler.stop()
    assert summary["samples"] >= 2
    assert any("ended" in note for note in summary["notes"])


def test_children_are_followed():
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time\\nblob = bytearray(300 * 2**20)\\nend = time.time() + 3\\n"
            "while time.time() < end: pass'])")
    proc = subprocess.Popen([sys.executable, "-c", code])
    sampler = monitor.Sampler(interval=0.1, pid=proc.pid, follow_children=True, gpus=False).start()
    proc.wait()
    summary = sampler.stop()
    # The grandchild's memory counts although the parent only waits (memory, not CPU %:
    # what CPU share a busy loop gets depends on the machine's load).
    assert summary["cpu"]["rss_peak"] > 300 * 2**20


def test_events_with_a_torn_last_line_are_readable(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "start"}\n{"event": "sample", "t": 0.1}\n{"event": "sam')
    assert [r["event"] for r in monitor.read_events(path)] == ["start", "sample"]


def test_no_nvml_no_matplotlib_no_cuda_at_import():
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import benchmarks.support.monitor, benchmarks.support.monitor_plots\n"
            "import benchmarks.bench_utilization\n"
            "bad = [m for m in ('pynvml', 'matplotlib', 'torch', 'jax', 'tensorflow', 'psutil')"
            " if m in sys.modules]\n"
            "assert not bad, bad\n" % str(REPO_ROOT))
    subprocess.run([sys.executable, "-c", code], check=True)


def test_support_modules_have_no_asv_benchmark_names():
    import benchmarks.support.monitor_plots as plots

    prefixes = ("time_", "track_", "peakmem_", "mem_", "timeraw_")
    for module in (monitor, plots):
        for name, value in vars(module).items():
            assert not name.lower().startswith(prefixes), f"{module.__name__}.{name}"
            if isinstance(value, type):
                assert not [a for a in vars(value) if a.lower().startswith(prefixes)], name


# --------------------------------------------------------------------------- GPUs


def test_gpu_sampling(gpus, tmp_path):
    events = tmp_path / monitor.EVENTS_FILE
    with monitor.Sampler(interval=0.05, events_path=events) as sampler:
        busy_until(sampler, 4)
    summary = sampler.summary()
    gpu = summary["gpu"]
    assert gpu is not None, summary["gpu_reason"]
    assert gpu["samples"] == summary["samples"] >= 4
    assert 0 <= gpu["util_mean"] <= gpu["util_peak"] <= 100
    assert gpu["mem_used_peak"] > 0
    start = events_of(events)[0]
    assert [g["index"] for g in start["gpus"]] == gpu["indices"] or gpu["attributed"]
    if gpus is not None:  # the fake: exact values
        assert start["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
        assert gpu["attributed"] and gpu["indices"] == [0]
        assert gpu["proc_mem_peak"] == 3 * 2**30
        assert gpu["proc_sm_mean"] == 35.0
        assert gpu["mem_busy_mean"] == 20.0
        assert gpu["power_w_mean"] == 250.0
        assert gpu["temperature_peak"] == 55.0
        assert gpu["sm_clock_mhz_mean"] == 1755.0
        row = next(r for r in events_of(events) if r["event"] == "sample")["gpu"]
        assert [r["index"] for r in row] == [0, 1]
        assert row[1]["attributed"] is False and row[1]["proc_sm"] is None
        assert gpus.initialised == gpus.shutdowns == 1
        assert summary["notes"] == []


def test_a_gpu_lost_mid_run_ends_its_sampling_with_a_note(monkeypatch, tmp_path):
    fake = install_fake_nvml(monkeypatch, [FakeGpu(0), FakeGpu(1)])
    fake.gpus[0].fail_code = pynvml.NVML_ERROR_GPU_IS_LOST
    fake.gpus[0].fail_after = 14  # seven calls per sample: lost in the third
    events = tmp_path / monitor.EVENTS_FILE
    with monitor.Sampler(interval=0.05, events_path=events) as sampler:
        busy_until(sampler, 6)  # sampling goes on past the loss, or this times out
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 10  # the lost GPU does not hold up the stop
    summary = sampler.summary()
    assert summary["gpu"]["lost"] == [0]
    lost_note = [n for n in summary["notes"] if "GPU 0" in n]
    assert len(lost_note) == 1
    assert "stopped answering NVML" in lost_note[0] and "GpuIsLost" in lost_note[0]
    records = events_of(events)
    samples = [r for r in records if r["event"] == "sample"]
    assert [r["index"] for r in samples[0]["gpu"]] == [0, 1]
    assert [r["index"] for r in samples[-1]["gpu"]] == [1]  # GPU 1 and the CPU side go on
    assert len(samples) >= 6
    assert any(r["event"] == "note" and "GPU 0" in r["message"] for r in records)
    assert records[-1]["event"] == "stop"
    assert summary["gpu"]["devices"][0]["lost_at"] is not None
    # The values before the loss are kept.
    assert summary["gpu"]["util_mean"] is not None


@pytest.mark.parametrize("code", ["NVML_ERROR_UNKNOWN", "NVML_ERROR_DRIVER_NOT_LOADED",
                                  "NVML_ERROR_UNINITIALIZED"])
def test_any_unexpected_nvml_error_ends_that_gpu_only(monkeypatch, code):
    fake = install_fake_nvml(monkeypatch, [FakeGpu(0)])
    fake.gpus[0].fail_code, fake.gpus[0].fail_after = getattr(pynvml, code), 0
    with monitor.Sampler(interval=0.05) as sampler:
        busy_until(sampler, 2)
    summary = sampler.summary()
    assert summary["gpu"]["lost"] == [0] and summary["gpu"]["util_mean"] is None
    assert summary["samples"] >= 2 and summary["cpu"]["cpu_percent_mean"] is not None
    assert "stopped answering" in summary["notes"][0]


def test_a_metric_nvml_does_not_support_is_noted_once(monkeypatch):
    fake = install_fake_nvml(monkeypatch, [FakeGpu(0)])
    fake.gpus[0].unsupported["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    fake.gpus[0].unsupported["nvmlDeviceGetComputeRunningProcesses"] = pynvml.NVML_ERROR_NO_PERMISSION
    with monitor.Sampler(interval=0.05) as sampler:
        busy_until(sampler, 2)
    summary = sampler.summary()
    gpu = summary["gpu"]
    assert gpu["lost"] == [] and gpu["power_w_mean"] is None and gpu["util_mean"] is not None
    assert gpu["attributed"] is False and gpu["proc_mem_peak"] is None
    assert sorted(gpu["devices"][0]["unavailable"]) == ["power", "processes"]
    assert len(summary["notes"]) == 2
    assert any("power not available" in n and "NotSupported" in n for n in summary["notes"])


def test_an_nvml_call_that_hangs_does_not_hang_the_benchmark(monkeypatch, tmp_path):
    fake = install_fake_nvml(monkeypatch, [FakeGpu(0)])
    release = threading.Event()
    fake.gpus[0].block = release
    events = tmp_path / monitor.EVENTS_FILE
    sampler = monitor.Sampler(interval=0.05, events_path=events, stop_timeout=0.5).start()
    time.sleep(0.2)
    started = time.monotonic()
    summary = sampler.stop()
    assert time.monotonic() - started < 2
    assert any("did not stop" in n and "nvmlDeviceGetUtilizationRates" in n
               for n in summary["notes"])
    release.set()  # the abandoned thread finishes; its late writes go nowhere
    sampler._thread.join(2)
    records = events_of(events)
    assert records[-1]["event"] == "stop"


def test_no_gpu_gives_the_reason(monkeypatch):
    install_fake_nvml(monkeypatch, init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    with monitor.Sampler(interval=0.05) as sampler:
        pass
    summary = sampler.summary()
    assert summary["gpu"] is None
    assert "no NVIDIA GPU" in summary["gpu_reason"] and "DriverNotLoaded" in summary["gpu_reason"]
    assert monitor.gpu_unavailable_reason() == summary["gpu_reason"]


@pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA GPU")
def test_real_nvml_without_a_gpu_gives_the_reason():
    reason = monitor.gpu_unavailable_reason()
    assert reason and "NVML" in reason


def test_cuda_visible_devices_limits_the_gpus(monkeypatch):
    fake = install_fake_nvml(monkeypatch, [FakeGpu(0), FakeGpu(1), FakeGpu(2)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    assert [g["index"] for g in monitor.gpu_inventory()["gpus"]] == [2]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", fake.gpus[1].uuid + ",0")
    assert [g["index"] for g in monitor.gpu_inventory()["gpus"]] == [1, 0]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "hides them all" in monitor.gpu_inventory()["reason"]


# --------------------------------------------------------------------------- machine names


def test_machine_name_records_the_gpu_model(monkeypatch):
    from pyhfbench.machines import propose_machine_name

    assert propose_machine_name("node7.cluster.org", {"gpus": []}) == "node7-cpu"
    one = {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}]}
    assert propose_machine_name("Node7", one) == "node7-h100-80gb-hbm3"
    two = {"gpus": [{"name": "NVIDIA A100-SXM4-40GB"}] * 2}
    assert propose_machine_name("node7", two) == "node7-2x-a100-sxm4-40gb"
    mixed = {"gpus": [{"name": "Tesla V100-SXM2-16GB"}, {"name": "NVIDIA L4"}]}
    assert propose_machine_name("n", mixed) == "n-tesla-v100-sxm2-16gb-l4"
    install_fake_nvml(monkeypatch, [FakeGpu(0)])
    assert propose_machine_name("gpuhost") == "gpuhost-h100-80gb-hbm3"


# --------------------------------------------------------------------------- where series go


def test_series_dir_under_the_monitor_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(monitor.DIR_ENV, str(tmp_path))
    monkeypatch.setenv(monitor.MACHINE_ENV, "box-cpu")
    monkeypatch.setenv("ASV_COMMIT", "abc123")
    monkeypatch.delenv(settings.RESULTS_DIR, raising=False)
    path = monitor.series_dir("fit", ("numpy", "cpu"))
    assert path == tmp_path / "box-cpu" / "utilization" / "abc123" / "fit-numpy-cpu"


def test_series_dir_inside_asv_is_the_results_dir_and_machine_the_host_passed(monkeypatch, tmp_path):
    from pyhfbench import results as resultslib

    results = tmp_path / "res"
    # What the host puts in asv's environment for a run storing into ``results`` as "this-run"
    # (other machines' folders there are not looked at).
    (results / "newer-machine").mkdir(parents=True)
    (results / "newer-machine" / "machine.json").write_text("{}")
    env = resultslib.run_context_env(results, "this-run")
    assert env[settings.RESULTS_DIR] == str(results) and env[settings.MACHINE] == "this-run"
    assert env[settings.SKIP_LOG] == str(resultslib.skip_log_dir(results, "this-run"))
    monkeypatch.delenv(monitor.DIR_ENV, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ASV_COMMIT", "f" * 40)
    path = monitor.series_dir("logpdf", ("numpy", "cpu", "32b", 100))
    assert path == results / "this-run" / "utilization" / ("f" * 40) / "logpdf-numpy-cpu-32b-100"
    # The layout the utilization pages and the report read.
    from pyhfbench import utilization_pages

    path.mkdir(parents=True)
    (path / monitor.EVENTS_FILE).write_text("")
    assert [(m, c, n) for m, c, n, _ in utilization_pages.find_series(results)] == [
        ("this-run", "f" * 40, "logpdf-numpy-cpu-32b-100")]


def test_no_series_outside_asv_without_a_monitor_dir(monkeypatch, tmp_path):
    # A plain ``asv run`` by hand passes no results folder: asv's configuration is not guessed.
    (tmp_path / "asv.conf.json").write_text(json.dumps({
        "benchmark_dir": str(REPO_ROOT / "benchmarks"), "results_dir": str(tmp_path / "res")}))
    monkeypatch.setenv("ASV_CONF_DIR", str(tmp_path))
    for key in (monitor.DIR_ENV, settings.RESULTS_DIR):
        monkeypatch.delenv(key, raising=False)
    assert monitor.series_dir("fit") is None


# --------------------------------------------------------------------------- plots


def test_plots_of_cpu_and_gpu_series(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks.support import monitor_plots

    fake = install_fake_nvml(monkeypatch, [FakeGpu(0)])
    fake.gpus[0].fail_code, fake.gpus[0].fail_after = pynvml.NVML_ERROR_GPU_IS_LOST, 20
    events = tmp_path / monitor.EVENTS_FILE
    with monitor.Sampler(interval=0.05, events_path=events, meta={"workload": "busy"}) as sampler:
        busy_until(sampler, 4)
    written = {p.name for p in monitor_plots.draw_plots(events)}
    assert {"CPU_Utilization.png", "Memory_Utilization.png", "Disk_IO_Utilization.png",
            "Network_Traffic.png", "GPU_Utilization.png", "GPU_Memory_Utilization.png",
            "GPU_Memory_Used.png", "GPU_Temperature.png", "GPU_Power.png",
            "GPU_SM_Clock.png"} == written
    for name in written:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- scripts/monitor


def test_scripts_monitor_run_samples_a_command(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "monitor"), "run", "--interval", "0.05",
         "--no-gpu", "--no-plots", "--out", str(out), "--",
         sys.executable, "-c", "import time, sys; time.sleep(0.4); sys.exit(3)"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "CPU: mean" in proc.stdout and "time series:" in proc.stdout
    records = monitor.read_events(out / monitor.EVENTS_FILE)
    assert records[0]["command"][-1].endswith("sys.exit(3)")
    assert sum(r["event"] == "sample" for r in records) >= 3


def test_scripts_monitor_machine_name(monkeypatch, capsys):
    from pyhfbench import monitor_cli

    install_fake_nvml(monkeypatch, [FakeGpu(0, "NVIDIA L4")])
    assert monitor_cli.main(["machine-name", "--hostname", "box"]) == 0
    assert capsys.readouterr().out.strip() == "box-l4"
