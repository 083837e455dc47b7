"""Pallet scans (benchmarks/support/scan.py, scripts/scan and its scan_driver.py).

Fast tests drive the scan machinery with stand-in tasks on thread pools.
The slow ones fit real sbottom patches: serial, a process pool and a real
Dask LocalCluster on 127.0.0.1 with process workers give the same CLs; a Dask
worker killed in the middle of a scan; Ctrl-C and a re-run that completes
the results file; pyhf's published reference CLs of sbottom RegionA
reproduced through the scan. Every test uses its own pallet cache, filled
from the local mirror.
"""

import concurrent.futures as cf
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from benchmarks.support import pallets, scan
from conftest import REPO_ROOT
from pyhfbench import scan_cli, scan_driver

#: Quick RegionB patches with finite CLs (about 1.5 s of CPU each).
QUICK = ["sbottom_1200_730_600", "sbottom_650_131_1"]
REGION_B = "sbottom/RegionB"


@pytest.fixture(scope="module")
def pallet_env(tmp_path_factory, shared_pallets):
    """PYHF_BENCH_PALLET_MIRROR and a fresh PYHF_BENCH_CACHE for this process and every
    worker it starts (they inherit the environment); sbottom fetched once, here."""
    cache = tmp_path_factory.mktemp("scan-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYHF_BENCH_PALLET_MIRROR", str(shared_pallets))
        patch.setenv("PYHF_BENCH_CACHE", str(cache))
        patch.setenv("PYHF_BENCH_THREADS", "1")
        pallets.clear_caches()
        yield {"cache": cache, "mirror": shared_pallets}
    pallets.clear_caches()


@pytest.fixture(scope="module")
def sbottom(pallet_env):
    pallets.fetch("sbottom")
    return pallet_env


# --- stand-in tasks (thread pools: no fits) ----------------------------------------------------

def fake_record(key, patch, backend, **extra):
    record = {"key": key, "patch": patch, "backend": backend, "status": "ok",
              "cls_obs": 0.5, "cls_exp": [0.1, 0.2, 0.3, 0.4, 0.5], "patch_s": 0.01,
              "fit_s": 0.01, "cpu_s": 0.01, "task_s": 0.01, "worker": "fake:1"}
    record.update(extra)
    return record


class FakeTask:
    """Counts calls per patch; ``errors``: patches whose fit fails (an error record);
    ``crashes``: patches whose task raises (the executor's future fails: lost)."""

    def __init__(self, errors=(), crashes=()):
        self.calls = {}
        self.errors, self.crashes = set(errors), set(crashes)
        self.lock = threading.Lock()

    def __call__(self, key, patch, backend, blas_threads):
        with self.lock:
            self.calls[patch] = self.calls.get(patch, 0) + 1
        if patch in self.crashes:
            raise RuntimeError(f"worker died running {patch}")
        if patch in self.errors:
            return fake_record(key, patch, backend, status="error", error="FailedMinimization: no")
        return fake_record(key, patch, backend)


TASKS = [("toy/A", f"p{i}") for i in range(10)]


def test_resume_after_interrupt_runs_each_patch_once(tmp_path):
    path = tmp_path / "results.json"
    task = FakeTask()

    def interrupt_after_three(record, done, total):
        if done == 3:
            raise KeyboardInterrupt

    with cf.ThreadPoolExecutor(2) as pool, pytest.raises(KeyboardInterrupt):
        scan.run_scan(TASKS, pool, path, workers=2, max_pending=2, task=task,
                      on_record=interrupt_after_three)
    document = json.loads(path.read_text())
    assert len(document["records"]) == 3
    assert document["runs"][0]["status"] == "interrupted"
    first = {r["patch"]: r for r in document["records"]}

    with cf.ThreadPoolExecutor(2) as pool:
        summary = scan.run_scan(TASKS, pool, path, workers=2, task=task)
    assert summary["status"] == "complete"
    assert summary["skipped"] == 3 and summary["patches"] == 7
    document = json.loads(path.read_text())
    patches = [r["patch"] for r in document["records"]]
    assert sorted(patches) == sorted(p for _, p in TASKS)  # every patch exactly once
    for patch, record in first.items():  # the finished ones were not run again
        assert document["records"][patches.index(patch)] == record
    # Cancelled futures may never have started; none ran twice after finishing.
    assert all(task.calls[p] == 1 for p in first)
    # A third run has nothing to do.
    with cf.ThreadPoolExecutor(2) as pool:
        summary = scan.run_scan(TASKS, pool, path, workers=2, task=task)
    assert summary["patches"] == 0 and summary["skipped"] == 10


def test_failed_fits_are_recorded_and_lost_tasks_rerun(tmp_path):
    path = tmp_path / "results.json"
    task = FakeTask(errors={"p2"}, crashes={"p5"})
    with cf.ThreadPoolExecutor(2) as pool:
        summary = scan.run_scan(TASKS, pool, path, workers=2, task=task)
    assert (summary["ok"], summary["errors"], summary["lost"]) == (8, 1, 1)
    records = {r["patch"]: r for r in json.loads(path.read_text())["records"]}
    assert records["p2"]["error"] == "FailedMinimization: no"
    assert records["p5"]["status"] == "lost" and "worker died" in records["p5"]["error"]

    # A re-run repeats the lost patch only; --retry-errors repeats the failed fit too.
    task.crashes.clear()
    with cf.ThreadPoolExecutor(2) as pool:
        summary = scan.run_scan(TASKS, pool, path, workers=2, task=task)
    assert [r["patch"] for r in summary["records"]] == ["p5"]
    with cf.ThreadPoolExecutor(2) as pool:
        summary = scan.run_scan(TASKS, pool, path, workers=2, task=task, retry_errors=True)
    assert [r["patch"] for r in summary["records"]] == ["p2"]
    assert summary["errors"] == 1  # it still fails, and is recorded once
    records = json.loads(path.read_text())["records"]
    assert sorted(r["patch"] for r in records) == sorted(p for _, p in TASKS)


def test_results_file_of_other_settings_is_refused(tmp_path):
    path = tmp_path / "results.json"
    with cf.ThreadPoolExecutor(1) as pool:
        scan.run_scan(TASKS[:1], pool, path, task=FakeTask())
        with pytest.raises(scan.ScanError, match="backend"):
            scan.run_scan(TASKS[:1], pool, path, backend="jax", task=FakeTask())
    path.write_text("{not json")
    with pytest.raises(scan.ScanError, match="not a readable results file"):
        scan.Results.open(path, scan.task_spec("numpy"))


def test_summary_speedup_and_efficiencies():
    records = [fake_record("k", f"p{i}", "numpy", patch_s=4.0, cpu_s=1.0) for i in range(4)]
    calibration = {"single_share": 0.5, "capacity": 1.25}
    summary = scan.summarize(records, wall_s=4.0, workers=2, calibration=calibration)
    assert summary["sum_patch_s"] == 16.0 and summary["concurrency"] == 4.0
    assert summary["cores_used"] == 1.0
    assert summary["serial_estimate_s"] == 8.0  # 4 s of CPU at half a core
    assert summary["speedup"] == 2.0
    assert summary["efficiency_vs_workers"] == 1.0
    assert summary["efficiency_vs_capacity"] == 2.0 / 1.25
    assert scan.summarize(records, 4.0, 2)["speedup"] == 1.0  # no calibration: an idle core
    before = {"single_s": 1.0, "parallel_s": 1.6, "capacity": 1.25, "single_share": 0.5,
              "parallel_cores": 0.6, "workers": 2, "cores": 2}
    after = dict(before, capacity=1.75, single_share=0.7)
    combined = scan.combine_calibrations(before, after)
    assert combined["capacity"] == 1.5 and math.isclose(combined["single_share"], 0.6)
    assert combined["before"]["capacity"] == 1.25 and combined["after"]["capacity"] == 1.75
    assert scan.combine_calibrations(before, None) is before



def test_summary_counts_fits_without_a_finite_cls():
    # sbottom RegionB sbottom_1000_131_1: a signal so small that pyhf's asymptotic CLs is 0/0.
    records = [fake_record("k", "p0", "numpy"), fake_record("k", "p1", "numpy", cls_obs=None)]
    summary = scan.summarize(records, wall_s=2.0, workers=1)
    assert summary["ok"] == 2 and summary["no_cls"] == 1
    assert "(2 ok, 1 of them without a finite CLs_obs, 0 failed" in scan_cli.format_summary(
        dict(summary, executor="serial", workers=1))[1]

def test_calibration_reference_is_fixed_work():
    with cf.ThreadPoolExecutor(2) as pool:
        result = scan.calibrate(pool, 2, iterations=20_000, repeats=2)
    assert result["workers"] == 2 and len(result["repeats"]) == 2
    assert result["capacity"] > 0 and 0 < result["single_share"] <= 1
    wall, cpu = scan.reference_work(10_000)
    assert wall > 0 and cpu >= 0


def test_parse_masses_and_selection(pallet_env):
    assert scan_cli.parse_masses("sbottom_1300_205_60") == ("sbottom", [1300.0, 205.0, 60.0])
    assert scan_cli.parse_masses("Gtt_2100_5000_800") == ("Gtt", [2100.0, 5000.0, 800.0])
    assert scan_cli.parse_masses("signal_3") is None
    assert scan_cli.parse_masses("synthetic-signal-0") is None

    tasks = scan.select_tasks(["sbottom"], sample=5)
    assert [key for key, _ in tasks] == ["sbottom/RegionA"] * 5 + ["sbottom/RegionB"] * 5 + ["sbottom/RegionC"] * 5
    names = pallets.patch_names("sbottom/RegionB")
    assert len(names) == 218
    spread = [p for k, p in tasks if k == "sbottom/RegionB"]
    assert spread[0] == names[0] and len(set(spread)) == 5
    assert scan.select_tasks([REGION_B], patterns=["sbottom_1200_*"], limit=2) == [
        (REGION_B, name) for name in names if name.startswith("sbottom_1200_")][:2]
    with pytest.raises(pallets.PalletError):
        scan.select_tasks(["sbottom/RegionZ"])


def test_plot_and_summary_command(tmp_path, pallet_env):
    records = [fake_record("sbottom/RegionA", f"sbottom_{m1}_{m2}_60", "numpy",
                           cls_obs=10 ** (-(m1 < 1000) * 3 - (m2 < 400)))
               for m1 in (800, 1000, 1200) for m2 in (250, 450, 650)]
    records.append(fake_record("sbottom/RegionA", "sbottom_1400_250_60", "numpy", status="error",
                               cls_obs=None, error="x"))
    path = tmp_path / "results.json"
    with cf.ThreadPoolExecutor(1) as pool:
        scan.run_scan([(r["key"], r["patch"]) for r in records], pool, path,
                      task=lambda k, p, b, t: next(r for r in records if r["patch"] == p))
    out = scan_cli.plot(scan_driver.load_results(path)["records"], tmp_path / "plane.png")
    assert out.stat().st_size > 10_000
    assert scan_cli.plot([fake_record("staus", "signal_1", "numpy")], tmp_path / "none.png") is None

    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "scan"), "summary",
                           str(path), "--baseline", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "10 records (1 error, 9 ok)" in done.stdout
    assert "measured speedup over the baseline: 1.00x" in done.stdout


# --- real fits ---------------------------------------------------------------------------------

def run_real(kind, patches, workers=2, scheduler=None, results_path=None, **kwargs):
    tasks = [(REGION_B, patch) for patch in patches]
    with scan.open_executor(kind, workers, keys=[REGION_B], scheduler=scheduler) as info:
        return scan.run_scan(tasks, info.executor, results_path, workers=info.workers,
                             executor_label=info.label, **kwargs)


@pytest.fixture(scope="module")
def dask_cluster(sbottom):
    """A real Dask LocalCluster on 127.0.0.1: 2 process workers, 1 thread each."""
    distributed = pytest.importorskip("distributed")
    scan.make_importable_in_workers()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0")
    yield cluster
    cluster.close()


@pytest.mark.slow
def test_serial_process_pool_and_dask_agree(sbottom, dask_cluster):
    patches = QUICK + ["sbottom_9999_1_1"]  # the last one does not exist: its task fails
    serial = run_real("serial", patches)
    pool = run_real("processes", patches)
    dask = run_real("dask", patches, scheduler=dask_cluster.scheduler_address)
    for summary in (serial, pool, dask):
        assert (summary["ok"], summary["errors"], summary["lost"]) == (2, 1, 0)
        failed = next(r for r in summary["records"] if r["status"] == "error")
        assert failed["patch"] == "sbottom_9999_1_1" and "unknown patch" in failed["error"]
        ok = [r for r in summary["records"] if r["status"] == "ok"]
        assert all(0 < r["cls_obs"] <= 1 and len(r["cls_exp"]) == 5 for r in ok)
    assert scan_driver.compare_records(serial["records"], pool["records"]) == []
    assert scan_driver.compare_records(serial["records"], dask["records"]) == []
    # Each ran where it was meant to: this process, two pool processes, Dask workers.
    assert {r["pid"] for r in serial["records"]} == {os.getpid()}
    assert os.getpid() not in {r["pid"] for r in pool["records"]}
    assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in dask["records"])


class PatchKeyedExecutor:
    """Dask's executor, with each task's dask key naming its patch (``key=`` is passed on
    to ``Client.submit``), so the test can tell which patches a worker held."""

    def __init__(self, executor):
        self.executor = executor

    def submit(self, fn, /, *args):
        return self.executor.submit(fn, *args, key=f"patch-{args[1]}")


@pytest.mark.slow
def test_dask_worker_killed_mid_scan(sbottom, tmp_path):
    patches = pallets.patch_names(REGION_B)[100:104]
    path = tmp_path / "killed.json"
    killed = {}
    with scan.open_executor("dask", 2, keys=[REGION_B]) as info:
        pids = info.client.run(os.getpid)

        def kill_the_other_worker(record, done, total):
            if done == 1:  # the other worker is in the middle of its first patch
                victim = next(addr for addr in pids if addr != record["worker"])
                killed.update(address=victim, pid=pids[victim],
                              processing=[k.removeprefix("patch-")
                                          for k in info.client.processing()[victim]])
                os.kill(pids[victim], signal.SIGKILL)

        summary = scan.run_scan([(REGION_B, p) for p in patches],
                                PatchKeyedExecutor(info.executor), path,
                                workers=info.workers, on_record=kill_the_other_worker)
        pids_after = set(info.client.run(os.getpid).values())
    assert killed["processing"], "the killed worker had no task"
    assert killed["pid"] not in pids_after  # it died (the nanny started a new one)
    records = json.loads(path.read_text())["records"]
    assert sorted(r["patch"] for r in records) == sorted(patches)  # each exactly once
    assert all(r["status"] == "ok" for r in records)
    # The patches it was running were re-run elsewhere. (One it had already finished may
    # still carry its pid: the result can reach the client just before the kill.)
    rerun = [r for r in records if r["patch"] in killed["processing"]]
    assert rerun and killed["pid"] not in {r["pid"] for r in rerun}
    assert summary["ok"] == 4


@pytest.mark.slow
def test_ctrl_c_then_rerun_completes(sbottom, tmp_path):
    path = tmp_path / "interrupted.json"
    patches = QUICK + [pallets.patch_names(REGION_B)[150]]
    command = [sys.executable, str(REPO_ROOT / "scripts" / "scan"), "run", REGION_B,
               "--patches", *patches, "--executor", "processes", "--workers", "1",
               "--no-plot", "--output", str(path)]
    # As from a terminal: SIGINT handled (a shell starting us in the background ignores it).
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and json.loads(path.read_text())["records"]:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "run the same command again" in output
    document = json.loads(path.read_text())
    first = document["records"]
    assert 1 <= len(first) < 3 and document["runs"][-1]["status"] == "interrupted"

    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(first)} already in" in done.stdout
    document = json.loads(path.read_text())
    assert sorted(r["patch"] for r in document["records"]) == sorted(patches)
    assert all(r["status"] == "ok" for r in document["records"])
    assert document["records"][:len(first)] == first  # kept, not re-run
    assert [run["status"] for run in document["runs"]] == ["interrupted", "complete"]
    calibration = document["runs"][-1]["calibration"]  # before and after the scan, averaged
    assert calibration["capacity"] == 1.0 and {"before", "after"} <= set(calibration)
    assert document["runs"][-1]["efficiency_vs_capacity"] is not None
    assert "speedup" in done.stdout and "calibration:" in done.stdout


#: pyhf's regression test asks for rtol 1e-5; with pyhf 0.7.6, NumPy 2 and SciPy 1.17 the
#: observed CLs of this patch comes out 1.05e-5 (relative) away: 0.0213730597 for 0.0213732839,
#: the same value a direct hypotest gives here (the registry records this for the other patch).
OBSERVED_RTOL_HERE = {"sbottom_1400_950_60": 2e-5}


@pytest.mark.slow
def test_published_reference_cls_reproduced(sbottom):
    key = "sbottom/RegionA"
    names = ["sbottom_1300_205_60", "sbottom_1400_950_60"]
    with scan.open_executor("processes", 2, keys=[key]) as info:
        summary = scan.run_scan([(key, name) for name in names], info.executor, workers=2)
    records = {r["patch"]: r for r in summary["records"]}
    for name in names:
        reference = pallets.reference_results(key, name)
        record = records[name]
        assert record["status"] == "ok"
        rtol = max(reference["rtol"], OBSERVED_RTOL_HERE.get(name, 0))
        assert math.isclose(record["cls_obs"], reference["cls_obs"], rel_tol=rtol)
        if "cls_exp" in reference:
            rtol = reference.get("rtol_exp", reference["rtol"])
            for got, want in zip(record["cls_exp"], reference["cls_exp"], strict=True):
                assert math.isclose(got, want, rel_tol=rtol)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("parsl") is None,
                    reason="parsl is not installed (not in requirements.txt)")
def test_parsl_pool_executor(sbottom, tmp_path, monkeypatch):
    """Parsl's ParslPoolExecutor (HighThroughputExecutor, 2 local workers) runs the scan as is."""
    import parsl.concurrent as concurrent
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.providers import LocalProvider

    # The worker pool is a new interpreter: it finds the task by its module name.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    config = Config(executors=[HighThroughputExecutor(
        label="local", max_workers_per_node=2, cpu_affinity="none",
        provider=LocalProvider(init_blocks=1, max_blocks=1))], run_dir=str(tmp_path / "runinfo"))
    tasks = [(REGION_B, patch) for patch in QUICK + ["sbottom_9999_1_1"]]
    with concurrent.ParslPoolExecutor(config) as pool:
        parsl = scan.run_scan(tasks, pool, tmp_path / "parsl.json", workers=2)
    assert (parsl["ok"], parsl["errors"], parsl["lost"]) == (2, 1, 0)
    serial = run_real("serial", QUICK)
    assert scan_driver.compare_records(serial["records"], parsl["records"]) == []
    assert os.getpid() not in {r["pid"] for r in parsl["records"]}


#: asv's server script sits beside asv's own benchmarks.py, first on the path of its workers.
ASVS_BENCHMARKS_MODULE = "from . import runner  # fails when imported as a top-level module\n"
MAIN_THAT_CANNOT_RUN_AGAIN = """
import sys
if __name__ != "__main__":  # a spawned worker running this file again, as asv's server script fails
    raise ImportError("attempted relative import with no known parent package")
sys.path.insert(0, {root!r})  # as asv's import hook: the suite imported, its folder not on the path
from benchmarks.support import scan
sys.path.remove({root!r})
with scan.open_executor("processes", 1, keys=[]) as info:
    print("answer", info.executor.submit(abs, -3).result())
"""


def test_process_workers_start_under_a_main_script_that_cannot_run_again(tmp_path):
    """Under asv's forkserver a benchmark's __main__ is asv's server script (the scan
    benchmark's setup_cache lost every worker there)."""
    script = tmp_path / "main.py"
    script.write_text(MAIN_THAT_CANNOT_RUN_AGAIN.format(root=str(REPO_ROOT)))
    (tmp_path / "benchmarks.py").write_text(ASVS_BENCHMARKS_MODULE)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "answer 3" in done.stdout
