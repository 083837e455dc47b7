"""The backend report's data: one machine's results at one commit, and the numbers and
labels drawn from them."""

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import results as resultslib
from .gate import display_unit
from .results import FAILED, OK, SKIPPED, STATE_TEXT, state_of
from .results import load_benchmarks_json as read_benchmarks_json
from .results import unrepr as _unquote
from .support import support_module

_backends = support_module("pyhf_compat")


REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT_FOLDER = "report"
LINK_ID = "pyhf-bench-report-link"
REFERENCE = ("numpy", "cpu")
#: The backends in the suite's order, and the packages in an asv environment's requirements
#: that provide each (benchmarks/support/pyhf_compat.py, the one table of them).
BACKEND_ORDER = _backends.BACKENDS
DEVICE_ORDER = ("cpu", "gpu")
#: Numeric parameters plotted as scaling curves first (others numeric ones follow).
SCALING_PARAMS = ("n_bins", "batch_size", "threads", "workers")
#: Tracked values (throughput, speedup) are plotted against parallelism only.
TRACK_SCALING_PARAMS = ("threads", "workers")
SCALING_LABELS = {
    "n_bins": "number of bins",
    "batch_size": "batch size (parameter points per call)",
    "threads": "BLAS / torch threads",
    "workers": "workers",
}
BACKEND_PACKAGES = {name: backend.packages for name, backend in _backends.BACKEND_TABLE.items()}
COLORS = {"numpy": "#4C72B0", "jax": "#DD8452", "pytorch": "#C44E52", "tensorflow": "#55A868"}
EXTRA_COLORS = ("#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD")
#: Modules whose track_ values are machine utilization, not physics results.
UTILIZATION_MODULES = ("bench_utilization",)
#: Where scripts/profile stores profiles: <results_dir>/profiles/<commit>/<benchmark>/.
PROFILES_FOLDER = "profiles"
MAX_LIST = 40

class ReportError(RuntimeError):
    """No results to report on (unknown machine or commit)."""


# --------------------------------------------------------------------------- reading

def kind_of(name, info_type=None):
    """'time', 'track' or 'memory', from benchmarks.json's type or the method prefix."""
    if info_type in ("time", "track"):
        return info_type
    if info_type in ("peakmemory", "memory"):
        return "memory"
    prefix = name.rsplit(".", 1)[-1].split("_", 1)[0]
    return {"time": "time", "timeraw": "time", "track": "track", "peakmem": "memory",
            "mem": "memory"}.get(prefix, "track")


@dataclass
class Benchmark:
    """One benchmark's results at one commit: a value per parameter combination."""

    name: str
    kind: str
    unit: str
    param_names: list
    params: list  # list of lists of (unquoted) parameter values
    values: dict = field(default_factory=dict)  # combo -> float, NaN (n/a) or None (failed)
    spread: dict = field(default_factory=dict)  # combo -> (q25, q75)

    @property
    def module(self):
        return self.name.split(".", 1)[0]

    @property
    def short(self):
        return self.name.split(".", 1)[1] if "." in self.name else self.name

    def index(self, pname):
        return self.param_names.index(pname) if pname in self.param_names else None

    @property
    def has_backend(self):
        return self.index("backend") is not None

    def column(self, combo):
        """(backend, device) of a combination; device 'cpu' where the benchmark has none."""
        b, d = self.index("backend"), self.index("device")
        if b is None and d is None:
            return ("-", "-")
        return (combo[b] if b is not None else "-", combo[d] if d is not None else "cpu")

    def workload(self, combo, skip=()):
        """The other parameters as ((name, value), ...)."""
        drop = {"backend", "device", *skip}
        return tuple((n, v) for n, v in zip(self.param_names, combo) if n not in drop)

    def states(self):
        counts = {OK: 0, SKIPPED: 0, FAILED: 0}
        for value in self.values.values():
            counts[state_of(value)] += 1
        return counts


@dataclass
class CommitResults:
    machine: str
    commit: str
    date: int
    envs: list  # [(env name, python, requirements)]
    benchmarks: dict  # name -> Benchmark
    not_run: list  # names known to benchmarks.json without results at this commit
    commits: list  # [(commit, date)] with results on this machine, newest first
    machine_info: dict
    stacks: list = None  # [(env name, results.StackRecord or None)] this report describes
    other_stacks: list = None  # [StackRecord]: the same commit measured in other stacks
    stack_history: list = None  # [(commit, date, StackRecord)], newest first


def _better(old, new):
    """Which of two values of one combination (from two environments) to keep."""
    rank = {OK: 2, FAILED: 1, SKIPPED: 0}
    return new if rank[state_of(new)] > rank[state_of(old)] else old


def load_commit(results_dir, machine, commit=None):
    """The results of ``machine`` at ``commit`` (a hash or prefix; default: the latest).

    Every environment's results file for that commit is merged (measured wins
    over failed, failed over n/a).
    """
    results_dir = Path(results_dir)
    machine_info = resultslib.load_machine_info(results_dir, machine)
    if machine_info is None:
        raise ReportError(f"no results for machine {machine!r} in {results_dir}")
    # As asv's own reader does, a file it cannot read is left out.
    loaded = resultslib.load_machine(results_dir, machine, on_error=lambda *a: None)
    if not loaded:
        raise ReportError(f"machine {machine!r} has no results files in {results_dir}")
    dates = {}
    for result in loaded:
        dates[result.commit] = max(dates.get(result.commit) or 0, result.date or 0)
    commits = sorted(dates.items(), key=lambda item: (-(item[1] or 0), item[0]))
    if commit is None:
        chosen = commits[0][0]
    else:
        found = [c for c, _ in commits if c.startswith(commit)]
        if not found:
            raise ReportError(f"machine {machine!r} has no results at commit {commit!r}")
        if len(found) > 1:
            raise ReportError(f"commit prefix {commit!r} is ambiguous: {', '.join(found)}")
        chosen = found[0]

    infos = read_benchmarks_json(results_dir)
    stacks = resultslib.load_stacks(results_dir, machine, on_error=lambda *a: None)
    at_commit, others = one_stack([r for r in loaded if r.commit == chosen], stacks)
    benchmarks, envs = {}, []
    for result in at_commit:
        envs.append((result.env_name, result.python, result.requirements))
        for name, params in result.params.items():
            info = infos.get(name, {})
            names = list(info.get("param_names") or [])
            if len(names) != len(params):
                names = [f"param{i + 1}" for i in range(len(params))]
            bench = benchmarks.get(name)
            if bench is None:
                bench = benchmarks[name] = Benchmark(
                    name=name, kind=kind_of(name, info.get("type")),
                    unit=display_unit(info.get("unit")) or ("seconds" if kind_of(name) == "time" else ""),
                    param_names=names, params=[[_unquote(v) for v in p] for p in params],
                )
            for reprs in itertools.product(*params) if params else [()]:
                measurement = result.get(name, reprs)
                combo = tuple(_unquote(v) for v in reprs)
                value = measurement.value if measurement else None
                bench.values[combo] = _better(bench.values[combo], value) \
                    if combo in bench.values else value
                st = measurement.stats if measurement else None
                if st and st.get("q_25") is not None and st.get("q_75") is not None \
                        and state_of(value) == OK:
                    bench.spread[combo] = (st["q_25"], st["q_75"])
    not_run = sorted(set(infos) - set(benchmarks))
    history = sorted(((r.commit, r.date, stacks[(r.commit, r.env_name)]) for r in loaded
                      if (r.commit, r.env_name) in stacks), key=lambda i: (-(i[1] or 0), i[0]))
    return CommitResults(machine=machine, commit=chosen, date=dates[chosen], envs=envs,
                         benchmarks=benchmarks, not_run=not_run, commits=commits,
                         machine_info=machine_info,
                         stacks=[(r.env_name, stacks.get((r.commit, r.env_name))) for r in at_commit],
                         other_stacks=others, stack_history=history)


def one_stack(results_at_commit, stacks):
    """(the results to report, [StackRecord] of other stacks) at one commit: where the commit
    was measured in several stacks (the upstream lane), the newest recorded one alone, so that
    no table mixes two stacks; results without a record are kept as they are."""
    recorded = [(stacks.get((r.commit, r.env_name)), r) for r in results_at_commit]
    described = {s.describe(): s for s, _ in recorded if s is not None}
    if len(described) <= 1:
        return results_at_commit, []
    newest = max(described.values(), key=lambda s: (s.path.stat().st_mtime if s.path else 0))
    keep = [r for s, r in recorded if s is None or s.describe() == newest.describe()]
    return keep, [s for text, s in described.items() if text != newest.describe()]


# --------------------------------------------------------------------------- numbers

def fmt_time(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"


def fmt_value(value, unit):
    state = state_of(value)
    if state != OK:
        return STATE_TEXT[state]
    if unit == "seconds":
        return fmt_time(value)
    if unit == "bytes":
        return f"{value / 2**20:.4g} MiB"
    text = f"{value:.6g}"
    return f"{text} {unit}" if unit and unit not in ("unit",) else text


def fmt_ratio(ratio):
    if ratio is None or not math.isfinite(ratio):
        return ""
    return f"{ratio:.3g}×"


def ok_value(value):
    return value if state_of(value) == OK else None


def column_label(column):
    backend, device = column
    if backend == "-":
        return "value" if device == "-" else device
    return f"{backend}/{device}"


def workload_label(workload):
    return ", ".join(f"{n}={v}" for n, v in workload) if workload else "(no parameters)"


def order_columns(columns):
    def key(col):
        b, d = col
        return (BACKEND_ORDER.index(b) if b in BACKEND_ORDER else len(BACKEND_ORDER), b,
                DEVICE_ORDER.index(d) if d in DEVICE_ORDER else len(DEVICE_ORDER), d)
    return sorted(set(columns), key=key)


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def table_of(bench):
    """{workload: {column: value}} and the ordered columns of a benchmark."""
    rows, columns = {}, []
    for combo, value in bench.values.items():
        col = bench.column(combo)
        columns.append(col)
        rows.setdefault(bench.workload(combo), {})[col] = value
    return rows, order_columns(columns)


def measured_columns(rows, columns):
    return [c for c in columns if any(state_of(r.get(c)) == OK for r in rows.values())]


def speedups(rows):
    """{workload: {column: t_ref / t}} where NumPy on the CPU was measured."""
    out = {}
    for workload, cells in rows.items():
        ref = ok_value(cells.get(REFERENCE))
        if ref:
            out[workload] = {c: ref / v for c, v in cells.items() if ok_value(v)}
    return out


def disagreement(cells):
    """(relative, absolute, outlier column, reference column) of one row of tracked values.

    The reference is NumPy on the CPU where measured, else the median value;
    relative is |v - ref| / max(|ref|, |v|). None with fewer than two values.
    """
    measured = {c: v for c, v in cells.items() if ok_value(v) is not None}
    if len(measured) < 2:
        return None
    if REFERENCE in measured:
        ref_col, ref = REFERENCE, measured[REFERENCE]
    else:
        ordered = sorted(measured.items(), key=lambda item: item[1])
        ref_col, ref = ordered[(len(ordered) - 1) // 2]
    worst = None
    for col, v in measured.items():
        if col == ref_col:
            continue
        absolute = abs(v - ref)
        scale = max(abs(ref), abs(v))
        relative = absolute / scale if scale > 0 else 0.0
        if worst is None or relative > worst[0]:
            worst = (relative, absolute, col, ref_col)
    return worst


def env_has_backend(envs, backend):
    """True/False where the environments' requirements say, None where unknown."""
    packages = BACKEND_PACKAGES.get(backend)
    if not packages or not envs:
        return None
    for _, _, reqs in envs:
        names = {resultslib.requirement_name(re.split(r"[\[<>=]", k)[0]) for k in reqs}
        if any(resultslib.requirement_name(p) in names for p in packages):
            return True
    return False


def missing_reason(column, report, counts):
    """Why a backend/device has no measurement at this commit (best knowledge)."""
    backend, device = column
    if counts[OK]:
        if counts[FAILED]:
            return "partly failed: see the failures below"
        if counts[SKIPPED]:
            return "partly n/a: skipped combinations, or not selected in this run"
        return ""
    if backend == "numpy" and device == "gpu":
        return "NumPy runs on the CPU only"
    installed = env_has_backend(report.envs, backend)
    if installed is False:
        return (f"{backend} is not in this environment's requirements "
                f"({', '.join(BACKEND_PACKAGES[backend])} missing)")
    if device == "gpu":
        gpu_any = any(state_of(v) == OK for b in report.benchmarks.values()
                      for combo, v in b.values.items() if b.column(combo)[1] == "gpu")
        if not gpu_any:
            return "no GPU results on this machine (no GPU, or CPU-only builds of the libraries)"
    if counts[FAILED] and not counts[SKIPPED]:
        return "every run failed"
    return ("skipped at this commit: removed from pyhf, not importable, or not selected "
            "in this run (`asv run --show-stderr` prints the reason)")
