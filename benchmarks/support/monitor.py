"""How hard the hardware works while a workload runs: a background sampler.

``Sampler`` records NVML's and psutil's figures into ``events.jsonl``; ``series_dir`` says where
a benchmark's series go. What it reads, how often, and what it does when a GPU stops
answering: docs/utilization.md (the sampler).
"""

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

from . import gpus, settings
from .gpus import _describe_error, _describe_gpu, _nvml_error_names, _shutdown

DEFAULT_INTERVAL = settings.DEFAULT_MONITOR_INTERVAL
INTERVAL_ENV = settings.MONITOR_INTERVAL
DIR_ENV = settings.MONITOR_DIR
MACHINE_ENV = settings.MACHINE
EVENTS_FILE = "events.jsonl"
UTILIZATION_FOLDER = "utilization"

MIB = 1024 * 1024
#: Seconds between reads of what changes slowly or only adds up (disk and network
#: counters, process I/O, thread count, GPU temperature): every read of /proc or NVML
#: hands the GIL back and forth with the workload, so the sampler reads few per sample.
SLOW_PERIOD = 1.0

#: NVML errors after which a metric is simply not available on a device.
_METRIC_UNAVAILABLE = (
    "NVML_ERROR_NOT_SUPPORTED",
    "NVML_ERROR_NO_PERMISSION",
    "NVML_ERROR_FUNCTION_NOT_FOUND",
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
    "NVML_ERROR_DEPRECATED",
)
#: NVML errors that mean "nothing to report this time" (no process samples yet).
_NO_DATA_NOW = ("NVML_ERROR_NOT_FOUND", "NVML_ERROR_NO_DATA", "NVML_ERROR_NOT_READY")
# Every other NVML error (GPU lost, driver unloaded, unknown, timeout, ...) ends
# the sampling of that GPU with a note.


def configured_interval(environ=os.environ):
    return settings.monitor_interval(environ)


def slug(text):
    """Lower case, runs of anything but letters and digits turned into one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


# --------------------------------------------------------------------------- GPUs (gpus.py)

# NVML access lives in gpus.py; the sampler below and the tests use these names from here.
GpuTrouble = gpus.GpuTrouble
GpuUnavailable = gpus.GpuUnavailable
EXPECT_GPU_ENV = gpus.EXPECT_GPU_ENV
GPU_TROUBLE_FILE_ENV = gpus.GPU_TROUBLE_FILE_ENV
gpu_inventory = gpus.gpu_inventory
gpu_unavailable_reason = gpus.gpu_unavailable_reason
open_nvml = gpus.open_nvml


class _Gpu:
    """One GPU being sampled, and what NVML would not tell about it."""

    def __init__(self, nvml, index, handle):
        self.nvml = nvml
        self.index = index
        self.handle = handle
        self.info = _describe_gpu(nvml, index, handle)
        self.unavailable = set()
        self.lost = None
        self.last_process_sample = 0
        self.temperature = None

    @property
    def label(self):
        return f"GPU {self.index} ({self.info.get('name') or 'unknown model'})"


class _DeviceGone(Exception):
    pass


# --------------------------------------------------------------------------- sampler


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _peak(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


class Sampler:
    """Samples CPU, memory, I/O and NVIDIA GPUs in a background thread.

    ``pid``: the process to watch (default this one); ``follow_children``
    adds its descendants (a command run under ``scripts/monitor``), looked
    for once a second (a scan of all processes costs about 1 ms).
    ``gpus=False`` leaves NVML alone. ``events_path``: where to write the
    time series as JSON lines (none if None). ``meta``: extra fields of the
    ``start`` line (workload, backend, commit, ...).
    """

    def __init__(self, interval=None, pid=None, follow_children=False, gpus=True,
                 events_path=None, meta=None, stop_timeout=None):
        self.interval = float(interval) if interval is not None else configured_interval()
        if not self.interval > 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.pid = os.getpid() if pid is None else int(pid)
        self.follow_children = follow_children
        self.want_gpus = gpus
        self.events_path = Path(events_path) if events_path is not None else None
        self.meta = dict(meta or {})
        self.stop_timeout = stop_timeout if stop_timeout is not None else max(5.0, 5 * self.interval)
        self.samples = []
        self.notes = []
        self.gpus = []
        self.gpu_reason = None
        self.gpu_errors = []  # what went wrong sampling a GPU that is there (not "no GPU")
        self.sampler_cpu_s = None
        self.started = None
        self.duration = None
        self.current_call = None
        self._nvml = None
        self._thread = None
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._events = None
        self._closed = False
        self._summary = None

    # -- life cycle

    def start(self):
        if self._thread is not None:
            raise RuntimeError("this sampler has been started already")
        import psutil

        self._psutil = psutil
        self._process = psutil.Process(self.pid)
        self._procs = {self.pid: self._process}
        self._next_child_scan = 0.0
        self._slow_due = 0.0
        self._last_slow = {}
        self._process.cpu_percent(None)
        psutil.cpu_percent(None)
        self._io0 = self._io_counters()
        self._pio0 = self._process_io()
        if self.want_gpus:
            self._open_gpus()
        else:
            self.gpu_reason = "GPU sampling switched off"
        if self.events_path is not None:
            self.events_path.parent.mkdir(parents=True, exist_ok=True)
            self._events = open(self.events_path, "w", buffering=1)
        self._write({
            "event": "start", "time": time.time(), "interval": self.interval,
            "pid": self.pid, "host": socket.gethostname(), "cpu_count": os.cpu_count(),
            "memory_total": psutil.virtual_memory().total,
            "gpus": [gpu.info for gpu in self.gpus], "gpu_reason": self.gpu_reason,
            **self.meta,
        })
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="pyhf-bench-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop sampling; return the summary. Never waits more than ``stop_timeout``."""
        if self._summary is not None:
            return self._summary
        if self._thread is None:
            raise RuntimeError("this sampler was never started")
        self._halt.set()
        self._thread.join(self.stop_timeout)
        self.duration = time.monotonic() - self.started
        hung = self._thread.is_alive()
        if hung:
            self._note(f"the sampler thread did not stop within {self.stop_timeout:g} s "
                       f"(stuck in {self.current_call or 'an unknown call'}); "
                       "abandoned, the series ends here")
        elif self._nvml is not None:
            _shutdown(self._nvml)
        self._summary = self.summary()
        with self._lock:
            self._write_locked({"event": "stop", "t": round(self.duration, 4),
                                "summary": self._summary})
            self._closed = True
            if self._events is not None:
                self._events.close()
        return self._summary

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- GPUs

    def _open_gpus(self):
        try:
            nvml, handles = open_nvml()
        except GpuUnavailable as err:
            self.gpu_reason = str(err)
            return
        self._nvml = nvml
        self._unavailable_codes = _nvml_error_names(nvml, _METRIC_UNAVAILABLE)
        self._no_data_codes = _nvml_error_names(nvml, _NO_DATA_NOW)
        self.gpus = [_Gpu(nvml, index, handle) for index, handle in handles]

    def _gpu_call(self, gpu, metric, call, *args):
        """``call(*args)`` for ``metric``; None where unavailable; _DeviceGone if the GPU is."""
        if metric in gpu.unavailable:
            return None
        self.current_call = f"{getattr(call, '__name__', call)} on GPU {gpu.index}"
        try:
            return call(*args)
        except Exception as err:
            code = getattr(err, "value", None)
            if isinstance(err, self._nvml.NVMLError) and code in self._no_data_codes:
                return None
            if isinstance(err, self._nvml.NVMLError) and code in self._unavailable_codes:
                gpu.unavailable.add(metric)
                self._note(f"{gpu.label}: {metric} not available ({_describe_error(err)})")
                return None
            raise _DeviceGone(f"{metric}: {_describe_error(err)}") from err
        finally:
            self.current_call = None

    def _sample_gpu(self, gpu, pids, slow=True):
        nvml = self._nvml
        h = gpu.handle
        row = {"index": gpu.index}
        util = self._gpu_call(gpu, "utilization", nvml.nvmlDeviceGetUtilizationRates, h)
        row["util"] = None if util is None else float(util.gpu)
        row["mem_busy"] = None if util is None else float(util.memory)
        memory = self._gpu_call(gpu, "memory", nvml.nvmlDeviceGetMemoryInfo, h)
        row["mem_used"] = None if memory is None else int(memory.used)
        if slow:
            temp = self._gpu_call(gpu, "temperature", nvml.nvmlDeviceGetTemperature, h,
                                  getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
            gpu.temperature = None if temp is None else float(temp)
        row["temperature"] = gpu.temperature
        power = self._gpu_call(gpu, "power", nvml.nvmlDeviceGetPowerUsage, h)
        row["power_w"] = None if power is None else power / 1000.0
        clock = self._gpu_call(gpu, "sm_clock", nvml.nvmlDeviceGetClockInfo, h,
                               getattr(nvml, "NVML_CLOCK_SM", 1))
        row["sm_clock_mhz"] = None if clock is None else float(clock)

        procs = self._gpu_call(gpu, "processes", nvml.nvmlDeviceGetComputeRunningProcesses, h)
        if procs is None:
            row["proc_mem"] = None
            row["attributed"] = None
        else:
            mine = [p for p in procs if getattr(p, "pid", None) in pids]
            used = [getattr(p, "usedGpuMemory", None) for p in mine]
            row["attributed"] = bool(mine)
            row["proc_mem"] = sum(int(u) for u in used if u is not None) if mine else 0
        samples = self._gpu_call(gpu, "process_utilization",
                                 nvml.nvmlDeviceGetProcessUtilization, h, gpu.last_process_sample)
        row["proc_sm"] = row["proc_mem_busy"] = None
        if samples:
            gpu.last_process_sample = max(int(getattr(s, "timeStamp", 0)) for s in samples)
            mine = [s for s in samples if getattr(s, "pid", None) in pids]
            if mine:
                row["proc_sm"] = float(sum(s.smUtil for s in mine))
                row["proc_mem_busy"] = float(sum(s.memUtil for s in mine))
            else:
                row["proc_sm"] = row["proc_mem_busy"] = 0.0
        return row

    # -- CPU side

    def _io_counters(self):
        psutil = self._psutil
        try:
            disk = psutil.disk_io_counters()
        except Exception:
            disk = None
        try:
            net = psutil.net_io_counters()
        except Exception:
            net = None
        return {
            "disk_read": getattr(disk, "read_bytes", None), "disk_write": getattr(disk, "write_bytes", None),
            "net_sent": getattr(net, "bytes_sent", None), "net_recv": getattr(net, "bytes_recv", None),
        }

    def _process_io(self):
        try:
            io = self._process.io_counters()
            return {"proc_read": io.read_bytes, "proc_write": io.write_bytes}
        except Exception:  # not on every platform, nor for every process
            return {"proc_read": None, "proc_write": None}

    def _watched(self):
        now = time.monotonic()
        if self.follow_children and now >= self._next_child_scan:
            self._next_child_scan = now + 1.0
            try:
                for child in self._process.children(recursive=True):
                    if child.pid not in self._procs:
                        child.cpu_percent(None)  # starts its counter; counts from the next sample
                        self._procs[child.pid] = child
            except self._psutil.Error:
                pass
        return self._procs

    def _sample_cpu(self, slow=True):
        psutil = self._psutil
        cpu = rss = 0.0
        threads = 0
        for pid, proc in list(self._watched().items()):
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                    if slow:
                        threads += proc.num_threads()
            except psutil.Error:
                if pid == self.pid:
                    raise
                del self._procs[pid]
        vm = psutil.virtual_memory()
        row = {"cpu_percent": cpu, "rss": int(rss),
               "system_cpu_percent": psutil.cpu_percent(None),
               "system_memory_used": int(vm.total - vm.available),
               "system_memory_percent": vm.percent}
        if slow:
            totals = {"threads": threads}
            for now, start in ((self._io_counters(), self._io0), (self._process_io(), self._pio0)):
                for key, value in now.items():
                    begin = start.get(key)
                    totals[key] = None if value is None or begin is None else int(value - begin)
            self._last_slow = totals
        row.update(self._last_slow)
        return row

    # -- the thread

    def _loop(self):
        cpu0 = time.thread_time()
        next_at = self.started + self.interval
        try:
            while not self._halt.wait(max(0.0, next_at - time.monotonic())):
                if not self._sample_once():
                    return
                next_at += self.interval
                now = time.monotonic()
                if next_at < now:  # fell behind (a slow call): do not burst
                    next_at = now + self.interval
            self._sample_once(last=True)  # the last stretch before stop, all totals read
        finally:
            self.sampler_cpu_s = time.thread_time() - cpu0

    def _sample_once(self, last=False):
        """Take one sample; False where sampling must end (the process is gone)."""
        now = time.monotonic()
        t = now - self.started
        slow = last or now >= self._slow_due
        if slow:
            self._slow_due = now + SLOW_PERIOD
        try:
            row = {"event": "sample", "t": round(t, 4), "cpu": self._sample_cpu(slow)}
        except self._psutil.NoSuchProcess:
            self._note(f"process {self.pid} ended; sampling stops")
            return False
        except Exception as err:
            self._note(f"CPU sampling failed ({_describe_error(err)}); sampling stops")
            return False
        pids = set(self._procs)
        rows = []
        for gpu in self.gpus:
            if gpu.lost:
                continue
            try:
                rows.append(self._sample_gpu(gpu, pids, slow))
            except _DeviceGone as err:
                gpu.lost = round(t, 4)
                self._note(f"{gpu.label} stopped answering NVML at t={t:.2f} s ({err}); "
                           "its sampling ended there, the workload went on")
            except Exception as err:  # a bug here must not end the workload, nor pass as no GPU
                gpu.lost = round(t, 4)
                self.gpu_errors.append(f"{gpu.label}: sampling failed ({_describe_error(err)})")
                self._note(f"{gpu.label}: sampling failed ({_describe_error(err)}); ended")
        if self.gpus:
            row["gpu"] = rows
        self.samples.append(row)
        self._write(row)
        return True

    # -- events

    def _note(self, message):
        t = None if self.started is None else round(time.monotonic() - self.started, 4)
        self.notes.append(message)
        self._write({"event": "note", "t": t, "message": message})

    def _write(self, record):
        with self._lock:
            self._write_locked(record)

    def _write_locked(self, record):
        if self._events is not None and not self._closed:
            self._events.write(json.dumps(record, default=str) + "\n")

    # -- results

    def summary(self):
        """Means and peaks of what was sampled, the notes, and what the sampler cost."""
        cpu_rows = [s["cpu"] for s in self.samples]
        duration = self.duration if self.duration is not None else (
            time.monotonic() - self.started if self.started else 0.0)
        out = {
            "duration_s": duration,
            "interval_s": self.interval,
            "samples": len(self.samples),
            "sampler_cpu_s": self.sampler_cpu_s,
            "sampler_ms_per_sample": (1000.0 * self.sampler_cpu_s / len(self.samples)
                                      if self.sampler_cpu_s is not None and self.samples else None),
            "notes": list(self.notes),
            "cpu": {
                "cpu_percent_mean": _mean(r["cpu_percent"] for r in cpu_rows),
                "cpu_percent_peak": _peak(r["cpu_percent"] for r in cpu_rows),
                "rss_peak": _peak(r["rss"] for r in cpu_rows),
                "system_cpu_percent_mean": _mean(r["system_cpu_percent"] for r in cpu_rows),
                "system_memory_used_peak": _peak(r["system_memory_used"] for r in cpu_rows),
                **{f"{key}_bytes": (cpu_rows[-1].get(key) if cpu_rows else None)
                   for key in ("disk_read", "disk_write", "net_sent", "net_recv",
                               "proc_read", "proc_write")},
            },
            "gpu": self._gpu_summary(),
            "gpu_reason": self.gpu_reason,
            "gpu_errors": list(self.gpu_errors),
        }
        return out

    def _gpu_summary(self):
        if not self.gpus:
            return None
        per_sample = [s.get("gpu", []) for s in self.samples]
        # The workload's GPUs: those NVML lists this process on; all of them where it never does.
        attributed = {row["index"] for rows in per_sample for row in rows if row.get("attributed")}
        chosen = attributed or {gpu.index for gpu in self.gpus}

        def over(rows, key, combine):
            values = [row.get(key) for row in rows if row["index"] in chosen]
            values = [v for v in values if v is not None]
            return combine(values) if values else None

        util = [over(rows, "util", max) for rows in per_sample]
        mem_busy = [over(rows, "mem_busy", max) for rows in per_sample]
        mem_used = [over(rows, "mem_used", sum) for rows in per_sample]
        proc_mem = [over(rows, "proc_mem", sum) for rows in per_sample]
        proc_sm = [over(rows, "proc_sm", max) for rows in per_sample]
        return {
            "devices": [dict(gpu.info, lost_at=gpu.lost, unavailable=sorted(gpu.unavailable))
                        for gpu in self.gpus],
            "indices": sorted(chosen),
            "attributed": bool(attributed),
            "samples": sum(1 for rows in per_sample if rows),
            "lost": [gpu.index for gpu in self.gpus if gpu.lost is not None],
            "util_mean": _mean(util), "util_peak": _peak(util),
            "mem_busy_mean": _mean(mem_busy), "mem_busy_peak": _peak(mem_busy),
            "mem_used_peak": _peak(mem_used),
            "proc_mem_peak": _peak(proc_mem) if attributed else None,
            "proc_sm_mean": _mean(proc_sm),
            "power_w_mean": _mean(over(rows, "power_w", sum) for rows in per_sample),
            "temperature_peak": _peak(over(rows, "temperature", max) for rows in per_sample),
            "sm_clock_mhz_mean": _mean(over(rows, "sm_clock_mhz", max) for rows in per_sample),
        }


def read_events(path):
    """The records of an events.jsonl file; a torn last line (a crash mid-write) is dropped."""
    records = []
    with open(path) as stream:
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                break
    return records


# --------------------------------------------------------------------------- where series go


def current_machine(environ=os.environ):
    """The asv machine name the host passed ($PYHF_BENCH_MACHINE), else this host's name."""
    return settings.machine(environ) or slug(socket.gethostname().split(".")[0]) or "host"


def series_dir(benchmark, params=(), base=None, machine=None, commit=None, environ=os.environ):
    """Folder for the time series of ``benchmark`` at ``params``; None where there is nowhere.

    ``<base>/<machine>/utilization/<commit>/<benchmark>[-<params>]`` with base
    $PYHF_BENCH_MONITOR_DIR, else the results folder the host passed to this asv run
    ($PYHF_BENCH_RESULTS_DIR); machine $PYHF_BENCH_MACHINE. A plain ``asv run`` passes
    neither: then there is nowhere (unless a monitor dir is set).
    """
    if base is None:
        base = settings.monitor_dir(environ) or settings.results_dir(environ)
    if base is None:
        return None
    machine = machine or current_machine(environ)
    commit = commit or environ.get("ASV_COMMIT") or "no-commit"
    name = "-".join([benchmark] + [slug(p) for p in params])
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    return Path(base) / machine / UTILIZATION_FOLDER / commit / name
