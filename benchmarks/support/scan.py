"""Pallet scans: the published per-patch hypothesis test of many signal patches, on any executor.

``run_patch`` is the task a worker runs, ``run_scan`` maps it over patches on a
``concurrent.futures`` executor (``open_executor``) into a results file, ``calibrate``
measures the executor's capacity. Only the standard library is imported at module level
(asv imports this in every per-commit environment). More: docs/scans.md (the code).
"""

import concurrent.futures as cf
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path

from . import backends, pallets, pyhf_compat, threads

#: What a record means; a results file of another task or version is refused.
TASK = "hypotest(1.0, test_stat='qtilde', return_expected_set=True); normsys code4, histosys code4p"
TASK_VERSION = 1
POI_VALUE = 1.0
FORMAT = "pyhf-benchmarks scan results"
FORMAT_VERSION = 1

EXECUTORS = ("serial", "processes", "dask")

#: Iterations of the CPU-bound calibration reference (about 0.3 s of one idle core).
REFERENCE_ITERATIONS = 2_000_000


class ScanError(Exception):
    """A scan cannot start or continue (incompatible results file, unknown executor)."""


# --- the task (runs in the worker) -------------------------------------------------------------

_worker_state = {}


def _ensure_worker(backend, blas_threads):
    """Select the backend and the thread count once per worker process."""
    wanted = (backend, int(blas_threads))
    if _worker_state.get("config") != wanted:
        backends.activate(backend, "cpu")
        threads.limit_threads(int(blas_threads))
        _worker_state["config"] = wanted


def worker_name():
    """The Dask worker's address inside a Dask worker, else host:pid."""
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            return distributed.get_worker().address
        except (ValueError, AttributeError):
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def hypotest(data, model):
    """The published per-patch test: CLs at POI 1, qtilde, with the expected band."""
    import pyhf

    return pyhf.infer.hypotest(
        POI_VALUE, data, model, return_expected_set=True,
        **pyhf_compat.test_stat_kwargs("qtilde"),
    )


def run_patch(key, patch, backend="numpy", blas_threads=1):
    """The task: one patch's hypotest in this worker; a record (dict), never an exception.

    Warnings (numpy's divide-by-zero where CLs is undefined) are kept in the
    record instead of being printed by every worker.
    """
    record = {"key": key, "patch": patch, "backend": backend, "blas_threads": int(blas_threads),
              "worker": worker_name(), "host": socket.gethostname(), "pid": os.getpid()}
    cpu_clock = _cpu_clock(backend, blas_threads)
    started, cpu_started = time.perf_counter(), cpu_clock()
    stage = ["setup"]
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            record.update(_hypotest_patch(key, patch, backend, blas_threads, stage, record))
    except Exception as err:  # a failing fit is a result, not the end of the scan
        record.update(status="error", stage=stage[0], error=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc(limit=8))
    if caught:
        record["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    record["cpu_s"] = cpu_clock() - cpu_started
    record["cpu_clock"] = cpu_clock.__name__
    record["task_s"] = time.perf_counter() - started
    record["finished"] = _now()
    return record


def _cpu_clock(backend, blas_threads):
    """The clock of a patch's CPU time: this thread's where all of the work runs in it
    (numpy with one BLAS thread), so that a Dask worker's own threads (event loop,
    heartbeats) are not counted; the whole process's otherwise (BLAS, XLA, torch pools)."""
    if backend == "numpy" and int(blas_threads) == 1:
        return time.thread_time
    return time.process_time


def _hypotest_patch(key, patch, backend, blas_threads, stage, record):
    import pyhf

    record["pyhf"] = pyhf.__version__
    _ensure_worker(backend, blas_threads)
    stage[0] = "load"
    started = time.perf_counter()
    pallets.load_workspace(key)  # parsed once per process
    loaded = time.perf_counter()
    stage[0] = "build"
    model, data = pallets.load_model(key, patch)
    data = pyhf.tensorlib.astensor(data)
    built = time.perf_counter()
    stage[0] = "hypotest"
    cls_obs, cls_exp = hypotest(data, model)
    backends.wait_for_device(backend, cls_obs)
    done = time.perf_counter()
    return {
        "status": "ok", "cls_obs": _number(cls_obs), "cls_exp": [_number(v) for v in cls_exp],
        "load_s": loaded - started, "build_s": built - loaded, "fit_s": done - built,
        "patch_s": done - loaded,
    }


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def prepare_worker(backend="numpy", blas_threads=1, keys=(), ignore_sigint=False):
    """Warm a worker: import pyhf, select backend and threads, parse the pallets of ``keys``.

    The process pool's initializer and, on Dask, ``client.run``. With ``ignore_sigint``
    Ctrl-C in the terminal reaches only the driver, which stops the scan in order.
    """
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _ensure_worker(backend, blas_threads)
    for key in keys:
        pallets.load_workspace(key)
    return worker_name()


# --- the calibration reference ----------------------------------------------------------------

def reference_work(iterations=REFERENCE_ITERATIONS):
    """A fixed CPU-bound pure-Python computation: (wall seconds, CPU seconds of this thread)."""
    started, cpu_started = time.perf_counter(), time.thread_time()
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return time.perf_counter() - started, time.thread_time() - cpu_started


def calibrate(executor, workers, iterations=REFERENCE_ITERATIONS, repeats=3):
    """The parallel capacity of ``executor`` with ``workers`` workers, measured now.

    One copy of ``reference_work`` alone, then ``workers`` copies at once, timed
    from this process (submission to last result); medians of ``repeats``:

    * ``capacity`` = workers x single / parallel: the speedup ``workers`` CPU-bound
      processes get over one (1.0: no parallelism, ``workers``: perfect scaling);
    * ``single_share``: the part of a core one process gets (CPU time / wall time
      of the lone copy; below 1 when others load the machine);
    * ``parallel_cores``: the cores' worth of CPU time the ``workers`` copies get.

    Run it on a warm executor (``open_executor`` warms its workers).
    """
    workers = max(1, int(workers))
    warm_up(executor, workers, timeout=60.0)
    rows = []
    for _ in range(repeats):
        started = time.perf_counter()
        single_wall, single_cpu = executor.submit(reference_work, iterations).result()
        single = time.perf_counter() - started
        if workers == 1:  # capacity 1 by definition; a second lone copy would only measure noise
            parallel, cpu = single, single_cpu
        else:
            started = time.perf_counter()
            futures = [executor.submit(reference_work, iterations) for _ in range(workers)]
            cpu = sum(future.result()[1] for future in futures)
            parallel = time.perf_counter() - started
        rows.append({"single_s": single, "parallel_s": parallel,
                     "capacity": workers * single / parallel,
                     "single_share": min(1.0, single_cpu / single_wall),
                     "parallel_cores": cpu / parallel})
    median = {name: statistics.median(row[name] for row in rows) for name in rows[0]}
    return {
        "workers": workers, "cores": os.cpu_count(),
        "reference": f"reference_work({iterations}): a pure-Python CPU-bound loop",
        **median, "repeats": rows, "measured": _now(),
    }


# --- executors ---------------------------------------------------------------------------------

def _pid_after(seconds):
    import threading

    time.sleep(seconds)
    return socket.gethostname(), os.getpid(), threading.get_ident()


def warm_up(executor, workers, timeout=300.0):
    """Return once ``workers`` distinct worker processes have answered (each one started
    and initialized), or after ``timeout`` seconds; the number that answered."""
    seen = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers and time.monotonic() < deadline:
        futures = [executor.submit(_pid_after, 0.05) for _ in range(workers)]
        seen.update(future.result() for future in futures)
    return len(seen)


class SerialExecutor(cf.Executor):
    """Runs each task in this process when it is submitted (the one-node baseline)."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            future.set_exception(err)
        return future


class ExecutorInfo:
    """What ``open_executor`` opened: the executor, its worker count, a label, the Dask client."""

    def __init__(self, executor, workers, kind, label, client=None, cluster=None):
        self.executor, self.workers, self.kind, self.label = executor, workers, kind, label
        self.client, self.cluster = client, cluster

    def as_dict(self):
        return {"kind": self.kind, "workers": self.workers, "label": self.label}


def _spawn_context():
    import multiprocessing

    return multiprocessing.get_context("spawn")


def make_importable_in_workers():
    """Put the folder holding this benchmark package on ``sys.path`` (and so on the
    path of spawned workers, which unpickle the task by its module name).

    asv imports the benchmarks through an import hook of its own that spawned
    processes do not have; the command line puts the repository on the path itself.
    Returns the folder.
    """
    package_dir = Path(__file__).resolve().parents[1]
    root = str(package_dir.parent)
    top = __name__.split(".")[0]
    if package_dir.name == top and root not in sys.path:
        sys.path.append(root)
    return root


def require_dask():
    """Raise NotImplementedError, with the reason, if dask.distributed is not installed."""
    import importlib.util

    for name in ("dask", "distributed"):
        if importlib.util.find_spec(name) is None:
            raise NotImplementedError(
                f"the Dask executor needs {name}, not installed in this environment "
                "(pip install 'dask[distributed]'; for asv add it to asv.conf.json's matrix)"
            )


@contextlib.contextmanager
def spawned_workers_find_this_suite():
    """Spawned workers import the parent's ``__main__`` file again, and this package by name,
    along the parent's ``sys.path``. In a benchmark under asv's forkserver, ``__main__`` is
    asv's server script and the first path entry its folder, which holds asv's own
    ``benchmarks.py``: every worker died in a relative import there. For the executor's life,
    ``__main__`` shows no file and the folder holding this suite comes first."""
    main = sys.modules.get("__main__")
    saved = {name: vars(main)[name] for name in ("__file__", "__spec__") if main and name in vars(main)}
    saved_path = list(sys.path)
    try:
        if "__file__" in saved:
            del main.__file__
        if "__spec__" in saved:
            main.__spec__ = None
        sys.path.insert(0, make_importable_in_workers())
        yield
    finally:
        sys.path[:] = saved_path
        for name, value in saved.items():
            setattr(main, name, value)


@contextlib.contextmanager
def open_executor(kind="processes", workers=None, backend="numpy", blas_threads=1, keys=(),
                  scheduler=None):
    """An executor for a scan, warmed up, closed (and its processes ended) on exit.

    ``kind``: ``serial``; ``processes`` (spawned, each worker prepared by
    ``prepare_worker``: backend, threads, pallets of ``keys`` parsed, SIGINT
    ignored); ``dask``: ``scheduler`` (an address, ``tcp://host:8786``) or, without
    it, a ``LocalCluster`` of ``workers`` process workers with one thread each
    on 127.0.0.1. Yields an ``ExecutorInfo``.
    """
    with spawned_workers_find_this_suite(), _executor(kind, workers, backend, blas_threads,
                                                       keys, scheduler) as info:
        yield info


@contextlib.contextmanager
def _executor(kind, workers, backend, blas_threads, keys, scheduler):
    workers = int(workers or os.cpu_count() or 1)
    keys = tuple(keys)
    if kind == "serial":
        prepare_worker(backend, blas_threads, keys)
        yield ExecutorInfo(SerialExecutor(), 1, kind, "serial (this process)")
        return
    if kind == "processes":
        pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=_spawn_context(), initializer=prepare_worker,
            initargs=(backend, blas_threads, keys, True),
        )
        clean = False
        try:
            warm_up(pool, workers)
            yield ExecutorInfo(pool, workers, kind, f"{workers} local processes")
            clean = True
        finally:
            if not clean:  # interrupted or failed: end the workers now, do not wait for their fits
                for process in list(getattr(pool, "_processes", {}).values()):
                    with contextlib.suppress(Exception):
                        process.terminate()
            pool.shutdown(wait=clean, cancel_futures=True)
        return
    if kind == "dask":
        require_dask()
        from distributed import Client, LocalCluster

        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=":0",  # a free port: never collide with another cluster
                env={name: str(blas_threads) for name in
                     ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
            )
            client = Client(cluster)
        try:
            if cluster is not None:
                client.wait_for_workers(workers)
            client.run(prepare_worker, backend, blas_threads, keys)
            nthreads = sum(client.nthreads().values()) or workers
            label = (f"Dask scheduler {scheduler}" if scheduler else
                     f"Dask LocalCluster, {workers} process workers x 1 thread")
            yield ExecutorInfo(client.get_executor(pure=False), nthreads, kind, label,
                               client=client, cluster=cluster)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    raise ScanError(f"unknown executor {kind!r}; known: {', '.join(EXECUTORS)} "
                    "(or pass any concurrent.futures.Executor to run_scan)")


# --- the results file --------------------------------------------------------------------------

def record_id(key, patch):
    return f"{key}:{patch}"


def task_spec(backend):
    """What every record of a results file was computed with."""
    return {"task": TASK, "task_version": TASK_VERSION, "poi": POI_VALUE, "test_stat": "qtilde",
            "modifier_settings": pyhf_compat.PUBLISHED_MODIFIER_SETTINGS, "backend": backend}


class Results:
    """A scan's JSON results file: task spec, one record per patch, the runs that wrote it.

    Saved whole and atomically (temporary file, then rename) after every record,
    so the file on disk is always valid and holds every record received.
    """

    def __init__(self, path, spec):
        self.path = Path(path) if path is not None else None
        self.spec = spec
        self.records = {}
        self.runs = []

    @classmethod
    def open(cls, path, spec, check=True):
        results = cls(path, spec)
        if results.path is None or not results.path.exists():
            return results
        try:
            document = json.loads(results.path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ScanError(f"{results.path}: not a readable results file: {err}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ScanError(f"{results.path}: not a scan results file (no format {FORMAT!r})")
        stored = document.get("spec", {})
        if not check:
            results.spec = stored
        differing = [name for name in ("task", "task_version", "poi", "test_stat", "backend")
                     if check and stored.get(name) != spec.get(name)]
        if differing:
            raise ScanError(
                f"{results.path}: written by a scan with other settings "
                f"({', '.join(f'{n}: {stored.get(n)!r} here {spec.get(n)!r}' for n in differing)}); "
                "use another results file"
            )
        for record in document.get("records", []):
            results.records[record_id(record["key"], record["patch"])] = record
        results.runs = document.get("runs", [])
        return results

    def finished(self, retry_errors=False):
        """Ids of the records a re-run skips: ok ones, and errors unless ``retry_errors``."""
        done = {"ok"} if retry_errors else {"ok", "error"}
        return {rid for rid, record in self.records.items() if record.get("status") in done}

    def add(self, record):
        self.records[record_id(record["key"], record["patch"])] = record

    def document(self):
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "spec": self.spec,
                "records": list(self.records.values()), "runs": self.runs}

    def save(self):
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.document(), indent=1) + "\n")
        os.replace(tmp, self.path)


# --- the driver --------------------------------------------------------------------------------

def select_tasks(keys, patterns=None, sample=None, limit=None):
    """[(key, patch)] for likelihood keys (or pallet names: all their keys), the patches
    matching any of the shell ``patterns``, ``sample`` of them per key evenly spread
    over the list, at most ``limit`` per key."""
    import fnmatch

    registry = pallets.load_registry()
    expanded = []
    for key in keys:
        if "/" not in key and key in registry["pallets"]:
            expanded += pallets.keys_of(key, registry["pallets"][key])
        else:
            pallets.resolve(key)
            expanded.append(key)
    tasks = []
    for key in expanded:
        names = pallets.patch_names(key)
        if patterns:
            names = [name for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
        if sample and len(names) > sample:
            step = len(names) / sample
            names = [names[int(i * step)] for i in range(sample)]
        if limit:
            names = names[:limit]
        tasks += [(key, name) for name in names]
    return tasks


def run_scan(tasks, executor, results_path=None, *, backend="numpy", blas_threads=1, workers=1,
             executor_label=None, retry_errors=False, max_pending=None, calibration=None,
             on_record=None, task=run_patch):
    """Run ``task(key, patch, backend, blas_threads)`` for every (key, patch) of ``tasks``
    on ``executor``; returns this run's summary (see ``summarize``).

    Records go into ``results_path`` (None: kept in memory only, in the summary's
    ``records``) as they arrive; patches finished by an earlier run of the same
    file are skipped. At most ``max_pending`` tasks (default 4 x ``workers``,
    at least 8) are submitted at a time. ``on_record(record, done, total)`` is
    called for every record. On KeyboardInterrupt the pending tasks are
    cancelled, the run is recorded as interrupted and the interrupt re-raised.
    """
    spec = task_spec(backend)
    results = Results.open(results_path, spec)
    skip = results.finished(retry_errors)
    todo, seen = [], set()
    for key, patch in tasks:
        rid = record_id(key, patch)
        if rid not in skip and rid not in seen:
            todo.append((key, patch))
            seen.add(rid)
    skipped = len({record_id(*t) for t in tasks}) - len(todo)
    window = max_pending or max(8, 4 * int(workers))
    run = {"run": len(results.runs) + 1, "started": _now(), "executor": executor_label,
           "workers": int(workers), "backend": backend, "blas_threads": int(blas_threads),
           "host": socket.gethostname(), "cores": os.cpu_count(), "requested": len(seen) + skipped,
           "skipped": skipped, "calibration": calibration, "status": "running"}
    results.runs.append(run)
    results.save()
    received = []
    pending = {}
    queue = list(reversed(todo))
    started = time.perf_counter()
    try:
        while queue or pending:
            while queue and len(pending) < window:
                key, patch = queue.pop()
                pending[executor.submit(task, key, patch, backend, blas_threads)] = (key, patch)
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for future in done:
                key, patch = pending.pop(future)
                record = _record_of(future, key, patch, backend)
                record["run"] = run["run"]
                results.add(record)
                received.append(record)
                results.save()
                if on_record is not None:
                    on_record(record, len(received), len(todo))
        run["status"] = "complete"
    except BaseException:
        run["status"] = "interrupted"
        for future in pending:
            future.cancel()
        raise
    finally:
        run.update(summarize(received, time.perf_counter() - started, workers, calibration))
        run["finished"] = _now()
        results.save()
    summary = dict(run)
    summary["records"] = received
    summary["results_path"] = str(results.path) if results.path else None
    return summary


def _record_of(future, key, patch, backend):
    """The task's record, or a ``lost`` record when the executor could not run it."""
    try:
        return future.result()
    except cf.CancelledError:
        error = "CancelledError: the executor cancelled the task"
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
    return {"key": key, "patch": patch, "backend": backend, "status": "lost", "stage": "executor",
            "error": error, "finished": _now()}


def summarize(records, wall_s, workers, calibration=None):
    """Wall time, summed per-patch time, speedup and parallel efficiency of a run's records.

    * ``sum_patch_s``: summed per-patch time (model build + hypotest, wall clock in the
      worker); ``concurrency`` = sum_patch_s / wall_s, how many patches ran at once;
    * ``cores_used`` = summed per-patch CPU time / wall_s;
    * ``speedup`` = cores_used / the calibration's ``single_share``: the estimated time
      of a serial run at the machine's current load over this run's wall time.
      CPU time, not per-patch wall time, because patches slowed down by sharing a
      core would otherwise count as work done in parallel. Without a calibration
      ``single_share`` is taken as 1 (a serial run on an idle core);
    * efficiency = speedup / workers, / min(workers, cores), and / the measured
      ``capacity`` (the speedup the CPU-bound reference gets with as many workers).
    """
    ok = [r for r in records if r.get("status") == "ok"]
    timed = [r for r in records if r.get("status") in ("ok", "error")]
    sum_patch = sum(r.get("patch_s", r.get("task_s", 0.0)) for r in timed)
    sum_cpu = sum(r.get("cpu_s", 0.0) for r in timed)
    cores = os.cpu_count() or 1
    workers = max(1, int(workers))
    calibration = calibration or {}
    share = calibration.get("single_share") or 1.0
    capacity = calibration.get("capacity")
    rate = wall_s > 0
    summary = {
        "patches": len(records), "ok": len(ok),
        # pyhf's asymptotic CLs is 0/0 where the signal is negligible: a fit, but no CLs.
        "no_cls": sum(r.get("cls_obs") is None for r in ok),
        "errors": sum(r.get("status") == "error" for r in records),
        "lost": sum(r.get("status") == "lost" for r in records),
        "wall_s": wall_s, "sum_patch_s": sum_patch, "sum_fit_s": sum(r.get("fit_s", 0.0) for r in ok),
        "sum_cpu_s": sum_cpu,
        "patches_per_s": len(records) / wall_s if rate else None,
        "concurrency": sum_patch / wall_s if rate else None,
        "cores_used": sum_cpu / wall_s if rate else None,
        "single_share": share,
        "serial_estimate_s": sum_cpu / share,
        "speedup": sum_cpu / share / wall_s if rate else None,
        "workers_seen": len({r.get("worker") for r in records if r.get("worker")}),
        "capacity": capacity,
    }
    speedup = summary["speedup"]
    known = speedup is not None
    summary["efficiency_vs_workers"] = speedup / workers if known else None
    summary["efficiency_vs_cores"] = speedup / min(workers, cores) if known else None
    summary["efficiency_vs_capacity"] = speedup / capacity if known and capacity else None
    return summary


def combine_calibrations(before, after):
    """One calibration from those taken before and after a scan: the means of the
    figures (the load of a shared machine drifts during a long scan), both kept."""
    if not after:
        return before
    combined = dict(before)
    for name in ("single_s", "parallel_s", "capacity", "single_share", "parallel_cores"):
        combined[name] = (before[name] + after[name]) / 2
    combined["before"] = {k: v for k, v in before.items() if k != "repeats"}
    combined["after"] = {k: v for k, v in after.items() if k != "repeats"}
    combined["repeats"] = before.get("repeats", []) + after.get("repeats", [])
    combined["taken"] = "mean of before and after the scan"
    return combined
