"""How hard the hardware works while a workload runs: a background sampler.

``Sampler`` runs in a thread beside the workload and records, every
``interval`` seconds:

* per NVIDIA GPU, through NVML (``pynvml`` from ``nvidia-ml-py``):
  utilization %, memory-controller busy %, memory used, temperature, power,
  SM clock, and where NVML allows it the share of this process (and its
  children): its GPU memory (``nvmlDeviceGetComputeRunningProcesses``) and its
  SM and memory busy % (``nvmlDeviceGetProcessUtilization``);
* through ``psutil``: the process CPU % (100 = one core), RSS, system CPU %
  and memory, and the disk and network bytes moved since the start.

What changes slowly or only adds up (disk, network and process I/O totals,
the thread count, GPU temperature) is read once a second (``SLOW_PERIOD``)
and carried in the samples between: every /proc or NVML read hands the GIL
back and forth with the workload, and that, more than the CPU time, is
what a sampler costs a Python-heavy workload.

Every sample is one line of ``events.jsonl`` (a ``start`` line with the
machine, the GPUs and the workload, ``sample`` lines, ``note`` lines for
anything that went wrong, a ``stop`` line with the summary), so a run that
dies mid-way still leaves its time series. ``monitor_plots`` draws them.

NVML and CUDA are never touched at import time: NVML is opened by
``Sampler.start`` (asv runs each benchmark in a spawned process) and closed
by ``Sampler.stop``. A GPU that stops answering (GPU lost, driver gone, any
unexpected NVML error) ends the sampling of that GPU with a note; the CPU
side and the workload go on. A sampler thread stuck in a call that never
returns is abandoned by ``stop`` after ``stop_timeout`` seconds, with a
note, so a benchmark never hangs on its monitor.

Where the time series go (``series_dir``): under
``<results_dir>/<machine>/utilization/<commit>/<benchmark>/`` (asv ignores
subfolders of a machine folder that have no machine.json), or with
``PYHF_BENCH_MONITOR_DIR`` set, under ``$PYHF_BENCH_MONITOR_DIR`` with the
same ``<machine>/utilization/<commit>/<benchmark>`` layout. Nothing here
writes ``*.json`` files there: asv would try to read them as results.

Nothing here is a benchmark: no name starts with an asv benchmark prefix.
"""

import importlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_INTERVAL = 0.1
INTERVAL_ENV = "PYHF_BENCH_MONITOR_INTERVAL"
DIR_ENV = "PYHF_BENCH_MONITOR_DIR"
MACHINE_ENV = "PYHF_BENCH_MACHINE"
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


def configured_interval():
    value = os.environ.get(INTERVAL_ENV, str(DEFAULT_INTERVAL))
    try:
        interval = float(value)
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV} must be a number of seconds, got {value!r}") from None
    if not interval > 0:
        raise ValueError(f"{INTERVAL_ENV} must be positive, got {interval}")
    return interval


def slug(text):
    """Lower case, runs of anything but letters and digits turned into one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


# --------------------------------------------------------------------------- NVML


class GpuUnavailable(RuntimeError):
    """No NVIDIA GPU here (no nvidia-ml-py, no driver, no device); the message says why."""


class GpuTrouble(RuntimeError):
    """A GPU is there, or meant to be, and cannot be reached: a failure, never "no GPU".

    NVML errors other than "no driver/library" (NVML_ERROR_UNKNOWN, GPU_IS_LOST,
    NO_PERMISSION, ...), and, where this machine is meant to have a GPU
    (``PYHF_BENCH_EXPECT_GPU``), any reason there would be none.
    """


#: Set (to 1) by scripts/nightly for a machine meant to have a GPU: no GPU is then trouble.
EXPECT_GPU_ENV = "PYHF_BENCH_EXPECT_GPU"
#: Where GPU trouble is recorded (JSON lines), so that scripts/nightly can say why the night
#: broke: asv keeps no stderr in its results.
GPU_TROUBLE_FILE_ENV = "PYHF_BENCH_GPU_TROUBLE_FILE"
#: nvmlInit errors that mean there is no NVIDIA GPU here at all.
_NO_GPU_HERE = ("NVML_ERROR_LIBRARY_NOT_FOUND", "NVML_ERROR_DRIVER_NOT_LOADED")


def gpu_expected():
    return os.environ.get(EXPECT_GPU_ENV, "").strip().lower() not in ("", "0", "false", "no")


def record_gpu_trouble(reason):
    """Append ``reason`` to the trouble file scripts/nightly reads (if it set one)."""
    path = os.environ.get(GPU_TROUBLE_FILE_ENV)
    if path:
        try:
            with open(path, "a") as handle:
                handle.write(json.dumps({"pid": os.getpid(), "reason": reason}) + "\n")
        except OSError:
            pass


def gpu_trouble(reason):
    """A GpuTrouble for ``reason``, recorded for scripts/nightly."""
    record_gpu_trouble(reason)
    return GpuTrouble(reason)


def _no_gpu(reason):
    """GpuUnavailable, or GpuTrouble where this machine is meant to have a GPU."""
    if gpu_expected():
        return gpu_trouble(f"this machine is meant to have a GPU ({EXPECT_GPU_ENV}), but {reason}")
    return GpuUnavailable(reason)


def _nvml_error_names(nvml, names):
    return {getattr(nvml, name) for name in names if hasattr(nvml, name)}


def _describe_error(err):
    return f"{type(err).__name__}: {err}"


def _visible_indices(nvml, count):
    """The NVML indices CUDA_VISIBLE_DEVICES leaves visible (all when unset)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    chosen = []
    for item in (part.strip() for part in visible.split(",")):
        if not item:
            continue
        if item.isdigit():
            if int(item) >= count:
                break  # CUDA stops at the first invalid entry
            chosen.append(int(item))
        else:
            for index in range(count):
                uuid = str(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(index)))
                if uuid.startswith(item) and index not in chosen:
                    chosen.append(index)
                    break
            else:
                break
    return chosen


def open_nvml():
    """Initialise NVML; return (pynvml, [(index, handle), ...]) for the visible GPUs.

    Raises GpuUnavailable with the reason where there is none. The caller
    must call ``pynvml.nvmlShutdown()`` once done.
    """
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError:
        raise _no_gpu("nvidia-ml-py (module pynvml) is not installed") from None
    try:
        nvml.nvmlInit()
    except Exception as err:
        reason = f"NVML could not start ({_describe_error(err)})"
        no_gpu_codes = _nvml_error_names(nvml, _NO_GPU_HERE)
        if getattr(err, "value", None) in no_gpu_codes:
            raise _no_gpu(f"no NVIDIA GPU: {reason}") from None
        raise gpu_trouble(reason) from None  # a driver that errs is not "no GPU"
    try:
        count = nvml.nvmlDeviceGetCount()
        indices = _visible_indices(nvml, count)
        handles = [(index, nvml.nvmlDeviceGetHandleByIndex(index)) for index in indices]
    except Exception as err:
        _shutdown(nvml)
        raise gpu_trouble(f"NVML could not list the GPUs ({_describe_error(err)})") from None
    if not handles:
        _shutdown(nvml)
        why = "CUDA_VISIBLE_DEVICES hides them all" if count else "NVML reports 0 devices"
        raise _no_gpu(f"no NVIDIA GPU: {why}")
    return nvml, handles


def _shutdown(nvml):
    try:
        nvml.nvmlShutdown()
    except Exception:
        pass


def _decode(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe_gpu(nvml, index, handle):
    info = {"index": index, "name": None, "uuid": None, "memory_total": None}
    for key, call in (("name", lambda: _decode(nvml.nvmlDeviceGetName(handle))),
                      ("uuid", lambda: _decode(nvml.nvmlDeviceGetUUID(handle))),
                      ("memory_total", lambda: int(nvml.nvmlDeviceGetMemoryInfo(handle).total))):
        try:
            info[key] = call()
        except Exception:
            pass
    return info


def gpu_inventory():
    """{"gpus": [{index, name, uuid, memory_total}, ...], "reason": None or why there are none}.

    Opens and closes NVML; call it only in a spawned process or a tool, never at import.
    Raises GpuTrouble where NVML errs (or a GPU is expected and missing): never "no GPU".
    """
    try:
        nvml, handles = open_nvml()
    except GpuUnavailable as err:
        return {"gpus": [], "reason": str(err)}
    try:
        return {"gpus": [_describe_gpu(nvml, i, h) for i, h in handles], "reason": None}
    finally:
        _shutdown(nvml)


def gpu_unavailable_reason():
    """None where NVML sees an NVIDIA GPU, else why not."""
    inventory = gpu_inventory()
    return None if inventory["gpus"] else inventory["reason"]


def propose_machine_name(hostname=None, inventory=None):
    """An asv machine name that records the GPU model: ``<host>-<gpu slug>`` or ``<host>-cpu``.

    asv's machine.json has no GPU field, so the name carries it:
    ``node7-h100-80gb-hbm3``, ``node7-2x-a100-sxm4-40gb``, ``laptop-cpu``.
    """
    host = slug((hostname or socket.gethostname()).split(".")[0]) or "host"
    if inventory is None:
        inventory = gpu_inventory()
    models = {}
    for gpu in inventory.get("gpus") or []:
        model = re.sub(r"^nvidia-", "", slug(gpu.get("name") or "gpu")) or "gpu"
        models[model] = models.get(model, 0) + 1
    if not models:
        return f"{host}-cpu"
    parts = [(f"{n}x-" if n > 1 else "") + model for model, n in models.items()]
    return "-".join([host] + parts)


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


def _strip_comments(text):
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def asv_results_dir(conf_dir=None, benchmark_dir=None):
    """The results_dir of the asv configuration in ASV_CONF_DIR that runs these benchmarks."""
    conf_dir = conf_dir or os.environ.get("ASV_CONF_DIR")
    if not conf_dir or not Path(conf_dir).is_dir():
        return None
    conf_dir = Path(conf_dir)
    benchmark_dir = Path(benchmark_dir or Path(__file__).resolve().parents[1]).resolve()
    found = []
    for path in sorted(conf_dir.glob("*.json")):
        try:
            config = json.loads(_strip_comments(path.read_text()))
        except (OSError, ValueError):
            continue
        if not isinstance(config, dict) or "results_dir" not in config:
            continue
        bench = Path(config.get("benchmark_dir", "benchmarks"))
        bench = bench if bench.is_absolute() else conf_dir / bench
        if bench.resolve() != benchmark_dir:
            continue
        results = Path(config["results_dir"])
        results = results if results.is_absolute() else conf_dir / results
        rank = (path.name == "asv.conf.json", path.stat().st_mtime)
        found.append((rank, results))
    return max(found)[1] if found else None


def current_machine(results_dir=None):
    """$PYHF_BENCH_MACHINE, else the machine asv is running as, else a proposed name.

    asv passes no machine name to benchmarks, but ``asv run`` writes
    ``<results_dir>/<machine>/machine.json`` just before it starts: the
    newest one is this run's.
    """
    name = os.environ.get(MACHINE_ENV)
    if name:
        return name
    if results_dir is not None and Path(results_dir).is_dir():
        machines = sorted(Path(results_dir).glob("*/machine.json"), key=lambda p: p.stat().st_mtime)
        if machines:
            return machines[-1].parent.name
    return slug(socket.gethostname().split(".")[0]) or "host"


def series_dir(benchmark, params=(), base=None, machine=None, commit=None):
    """Folder for the time series of ``benchmark`` at ``params``; None where there is nowhere.

    ``<base>/<machine>/utilization/<commit>/<benchmark>[-<params>]`` with base
    $PYHF_BENCH_MONITOR_DIR, else asv's results_dir (inside ``asv run``).
    """
    results_dir = asv_results_dir()
    if base is None:
        base = os.environ.get(DIR_ENV) or results_dir
    if base is None:
        return None
    machine = machine or current_machine(results_dir)
    commit = commit or os.environ.get("ASV_COMMIT") or "no-commit"
    name = "-".join([benchmark] + [slug(p) for p in params])
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    return Path(base) / machine / UTILIZATION_FOLDER / commit / name


# --------------------------------------------------------------------------- child processes


def _package_root():
    """The folder that holds this package (the parent of benchmarks/), and the package's name."""
    parts = __name__.split(".")
    return Path(__file__).resolve().parents[len(parts) - 1], parts[0]


def run_in_child(target, kwargs, timeout=600.0):
    """Run ``target(**kwargs)`` ('module:function', relative to this package) in a new Python.

    Returns what it returned (JSON), or {"status": "error", "reason": ...}
    where the child failed, crashed or ran past ``timeout``. Every workload
    measured this way gets a process of its own: its own peak RSS, its own
    CUDA context, and a hang kills the child, not the benchmark.
    """
    root, package = _package_root()
    module, function = target.split(":")
    fd, out_path = tempfile.mkstemp(prefix="pyhf-bench-child-", suffix=".out")
    os.close(fd)
    code = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        f"module = importlib.import_module({package + '.' + module!r})\n"
        "kwargs = json.loads(sys.stdin.read())\n"
        f"result = getattr(module, {function!r})(**kwargs)\n"
        f"open({out_path!r}, 'w').write(json.dumps(result, default=str))\n"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(kwargs),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        _unlink(out_path)
        tail = (err.stderr or b"")[-2000:]
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return {"status": "error", "reason": f"{target} ran past {timeout:g} s and was killed",
                "stderr": tail}
    try:
        text = Path(out_path).read_text()
        result = json.loads(text) if text else None
    except (OSError, ValueError):
        result = None
    finally:
        _unlink(out_path)
    if proc.stderr:
        sys.stderr.write(proc.stderr[-4000:])
    if proc.returncode != 0 or result is None:
        last = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"status": "error",
                "reason": f"{target} exited with status {proc.returncode}: {last[0]}",
                "stderr": (proc.stderr or "")[-4000:]}
    return result


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass

