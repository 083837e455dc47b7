"""Every ``PYHF_BENCH_*`` variable: its name, its default and its check, in one place.

Benchmarks (inside asv's environments) and the host's commands read them
through these functions; each takes ``environ`` so that tests need not set
the process's own. docs/settings.md lists what each one is for.
"""

import json
import os
from pathlib import Path

SIZE = "PYHF_BENCH_SIZE"
SIZES = ("quick", "full")
THREADS = "PYHF_BENCH_THREADS"
SAMPLES = "PYHF_BENCH_SAMPLES"
QUICK_SUITE = "PYHF_BENCH_QUICK_SUITE"
CACHE = "PYHF_BENCH_CACHE"
REGISTRY = "PYHF_BENCH_REGISTRY"
PALLET_MIRROR = "PYHF_BENCH_PALLET_MIRROR"
SKIP_LOG = "PYHF_BENCH_SKIP_LOG"
MACHINE = "PYHF_BENCH_MACHINE"
RESULTS_DIR = "PYHF_BENCH_RESULTS_DIR"
MONITOR_DIR = "PYHF_BENCH_MONITOR_DIR"
MONITOR_INTERVAL = "PYHF_BENCH_MONITOR_INTERVAL"
MONITOR_SECONDS = "PYHF_BENCH_MONITOR_SECONDS"
EXPECT_GPU = "PYHF_BENCH_EXPECT_GPU"
GPU_TROUBLE_FILE = "PYHF_BENCH_GPU_TROUBLE_FILE"
INSTRUCTION_WORKLOADS = "PYHF_BENCH_INSTRUCTION_WORKLOADS"
STUDY_BACKENDS = "PYHF_BENCH_STUDY_BACKENDS"
STUDY_DEVICES = "PYHF_BENCH_STUDY_DEVICES"
STUDY_BATCH_SIZES = "PYHF_BENCH_STUDY_BATCH_SIZES"
JAX_CACHE = "PYHF_BENCH_JAX_CACHE"
#: Set by the host: the --bench regexes of this asv run (JSON), for setup_caches to compute
#: only what the run selected.
SELECTION = "PYHF_BENCH_SELECTION"
#: Set by the host's commands when they start again inside the project's venv.
REEXEC = "PYHF_BENCH_REEXEC"

DEFAULT_THREADS = 1
DEFAULT_SAMPLES = 7
MIN_SAMPLES = 3
DEFAULT_MONITOR_INTERVAL = 0.1
DEFAULT_MONITOR_SECONDS = 2.0

_FALSE = ("", "0", "false", "no")


def _text(name, environ):
    return (environ.get(name) or "").strip()


def _path(name, environ):
    value = _text(name, environ)
    return Path(value).expanduser() if value else None


def _whole(name, default, minimum, environ):
    value = _text(name, environ) or str(default)
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def _seconds(name, default, environ, positive=False):
    value = _text(name, environ) or str(default)
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if positive and seconds <= 0:
        raise ValueError(f"{name} must be positive, got {seconds}")
    return max(0.0, seconds)


def suite_size(environ=os.environ):
    """"quick" (CI, laptops) or "full" (GPU hosts): which pallets the suite runs on."""
    size = _text(SIZE, environ) or "quick"
    if size not in SIZES:
        raise ValueError(f"{SIZE} must be one of {', '.join(SIZES)}, got {size!r}")
    return size


def blas_threads(environ=os.environ):
    return _whole(THREADS, DEFAULT_THREADS, 1, environ)


def samples_wanted(environ=os.environ):
    return _whole(SAMPLES, DEFAULT_SAMPLES, MIN_SAMPLES, environ)


def in_quick_run(environ=os.environ):
    """Whether this asv run is the quick suite (the host sets it with --quick)."""
    return _text(QUICK_SUITE, environ) == "1"


def cache_dir(environ=os.environ):
    """Downloads and builds: $PYHF_BENCH_CACHE, else $XDG_CACHE_HOME/pyhf-benchmarks."""
    base = _text("XDG_CACHE_HOME", environ) or "~/.cache"
    return _path(CACHE, environ) or Path(base, "pyhf-benchmarks").expanduser()


def jax_compilation_cache(environ=os.environ):
    """Folder of JAX's persistent compilation cache for the warm benchmarks, or None (off)."""
    value = _text(JAX_CACHE, environ)
    if value.lower() in ("0", "off", "false", "no"):
        return None
    return Path(value).expanduser() if value else cache_dir(environ) / "jax-compilation-cache"


def selection(environ=os.environ):
    """The --bench regexes of this asv run, as the host passed them ([]: everything; None:
    not told, as under a bare ``asv run``)."""
    text = _text(SELECTION, environ)
    if not text:
        return None
    try:
        regexes = json.loads(text)
    except ValueError:
        raise ValueError(f"{SELECTION} must be a JSON list of regexes, got {text!r}") from None
    if not (isinstance(regexes, list) and all(isinstance(r, str) for r in regexes)):
        raise ValueError(f"{SELECTION} must be a JSON list of regexes, got {text!r}")
    return regexes


def registry_file(environ=os.environ):
    return _path(REGISTRY, environ)


def pallet_mirror(environ=os.environ):
    """A local folder of pallet archives used instead of HEPData, or None."""
    return _path(PALLET_MIRROR, environ)


def skip_log_dir(environ=os.environ):
    return _path(SKIP_LOG, environ)


def machine(environ=os.environ):
    """The asv machine name this run stores its results under, as the host passed it."""
    return _text(MACHINE, environ) or None


def results_dir(environ=os.environ):
    """asv's results_dir for this run, as the host passed it."""
    return _path(RESULTS_DIR, environ)


def monitor_dir(environ=os.environ):
    """Another root of utilization time series than the results folder, or None."""
    return _path(MONITOR_DIR, environ)


def monitor_interval(environ=os.environ):
    return _seconds(MONITOR_INTERVAL, DEFAULT_MONITOR_INTERVAL, environ, positive=True)


def monitor_seconds(environ=os.environ):
    """How long a utilization workload runs at least, so that the sampler sees it."""
    return _seconds(MONITOR_SECONDS, DEFAULT_MONITOR_SECONDS, environ)


def gpu_expected(environ=os.environ):
    """Whether this machine is meant to have a GPU: then NVML trouble breaks the night."""
    return _text(EXPECT_GPU, environ).lower() not in _FALSE


def gpu_trouble_file(environ=os.environ):
    return _path(GPU_TROUBLE_FILE, environ)


def instruction_workloads(environ=os.environ):
    """A regex over workload names: only those are counted (None: all)."""
    return _text(INSTRUCTION_WORKLOADS, environ) or None


def reexecuted(environ=os.environ):
    """Whether this host command already started again inside the project's venv."""
    return bool(_text(REEXEC, environ))


def listed(name, convert=str, environ=os.environ):
    """A comma list (the study's limits), converted; None where unset or empty."""
    items = [item.strip() for item in _text(name, environ).split(",") if item.strip()]
    return [convert(item) for item in items] or None
