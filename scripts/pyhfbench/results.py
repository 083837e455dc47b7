"""Reading asv's result files: one measurement per benchmark, parameters, commit and machine.

asv stores one JSON file per machine, commit and environment
(``results/<machine>/<hash8>-<env>.json``); ``asv.results.Results`` loads
them. This module turns them into flat ``Measurement`` records the gate can
compare, and knows how asv encodes the three outcomes of a benchmark:

* a number: measured (``ok``);
* NaN: skipped, e.g. setup raised ``NotImplementedError`` because pyhf
  removed the backend, or the parameter combination was not selected;
* ``null`` (None): failed. When asv could not build the commit it records
  every benchmark as failed without a duration, which is how a build failure
  is told apart from benchmarks that crashed.
"""

import ast
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .support import settings, support_module

OK, SKIPPED, FAILED = "ok", "skipped", "failed"
#: How the reports print a state: a skip reads "n/a" there.
STATE_TEXT = {OK: "ok", SKIPPED: "n/a", FAILED: "failed"}

#: Benchmark kinds by the prefix of the method name (asv's conventions).
KINDS = ("time", "timeraw", "peakmem", "mem", "track")


class ResultsError(RuntimeError):
    """The results cannot be read (missing folder, corrupt file, unknown machine)."""


def benchmark_kind(name):
    """``time``, ``peakmem``, ``mem``, ``track`` (or None) from a benchmark's full name."""
    method = name.rsplit(".", 1)[-1]
    prefix = method.split("_", 1)[0]
    if prefix == "timeraw":
        return "time"
    return prefix if prefix in KINDS else None


def state_of(value):
    if value is None:
        return FAILED
    if isinstance(value, float) and math.isnan(value):
        return SKIPPED
    return OK


def unrepr(text):
    """asv stores parameter values as their repr: 'numpy' reads numpy, 10 reads 10."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return str(text)
    return str(value)


@dataclass(frozen=True)
class Measurement:
    """One parameter combination of one benchmark at one commit."""

    benchmark: str
    params: tuple  # asv's repr of each parameter value, e.g. ("'numpy'", "'cpu'", "10")
    value: object  # float, NaN (skipped) or None (failed)
    stats: dict = None  # asv's q_25, q_75, ci_99_a, ci_99_b, number, repeat
    samples: tuple = None
    version: str = None
    ran: bool = True  # False when asv never started the benchmark (build failure)

    @property
    def state(self):
        return state_of(self.value)

    @property
    def kind(self):
        return benchmark_kind(self.benchmark)

    @property
    def label(self):
        """asv's name for the combination, as ``--bench`` regexes see it."""
        if not self.params:
            return self.benchmark
        return f"{self.benchmark}({', '.join(self.params)})"

    def quantiles(self):
        """(q25, q75) of the samples, or None."""
        if self.stats and self.stats.get("q_25") is not None and self.stats.get("q_75") is not None:
            return self.stats["q_25"], self.stats["q_75"]
        if self.samples and len(self.samples) >= 2:
            ordered = sorted(self.samples)
            return _quantile(ordered, 0.25), _quantile(ordered, 0.75)
        return None


def _quantile(ordered, q):
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class CommitResults:
    """Everything one results file holds: a commit measured on a machine in an environment."""

    commit: str
    date: int  # the commit's date, milliseconds since the epoch (asv's convention)
    machine: str
    env_name: str
    path: Path = None
    measurements: dict = field(default_factory=dict)  # (benchmark, params) -> Measurement
    python: str = ""
    requirements: dict = field(default_factory=dict)  # the environment's matrix entries
    params: dict = field(default_factory=dict)  # benchmark -> asv's lists of parameter reprs
    durations: dict = field(default_factory=dict)  # benchmark, "<build>", "<setup_cache ...>": s

    @property
    def build_failed(self):
        """asv could not build or install the commit: every benchmark failed without running."""
        found = list(self.measurements.values())
        return bool(found) and all(m.state == FAILED and not m.ran for m in found)

    def get(self, benchmark, params):
        return self.measurements.get((benchmark, tuple(params)))


def _combinations(params):
    if not params:
        return [()]
    return [tuple(combo) for combo in itertools.product(*params)]


def measurements_of(result):
    """Flatten an ``asv.results.Results`` into {(benchmark, params): Measurement}."""
    found = {}
    durations = result.duration
    for name in result.get_all_result_keys():
        params = result.get_result_params(name)
        combos = _combinations(params)
        values = result.get_result_value(name, params)
        stats = result.get_result_stats(name, params)
        samples = result.get_result_samples(name, params)
        version = result.benchmark_version.get(name)
        ran = durations.get(name) is not None
        for i, combo in enumerate(combos):
            sample_list = samples[i] if samples else None
            found[(name, combo)] = Measurement(
                benchmark=name,
                params=combo,
                value=values[i] if values else None,
                stats=(stats[i] if stats else None) or None,
                samples=tuple(sample_list) if sample_list else None,
                version=version,
                ran=ran,
            )
    return found


def load_file(path, machine=None):
    """Load one asv results file; ResultsError if it is not a complete results file."""
    from asv.results import Results

    try:
        result = Results.load(str(path), machine_name=machine)
    except Exception as err:  # asv raises UserError, ValueError, KeyError... on corrupt files
        raise ResultsError(f"{path}: not a readable asv results file ({err})") from None
    from .inputs import check_values

    try:
        loaded = CommitResults(
            commit=result.commit_hash,
            date=result.date if result.date is not None else 0,
            machine=result.params.get("machine", machine),
            env_name=result.env_name,
            path=Path(path),
            measurements=measurements_of(result),
            python=(result.params or {}).get("python", ""),
            requirements=dict(getattr(result, "_requirements", None) or _requirements_of(result)),
            params={name: result.get_result_params(name) for name in result.get_all_result_keys()},
            durations=dict(result.duration),
        )
    except Exception as err:  # a field of the wrong shape (a string where asv keeps a list)
        raise ResultsError(f"{path}: not a readable asv results file "
                           f"({type(err).__name__}: {err})") from None
    return check_values(loaded)  # a field of the wrong type: named, not a traceback later


def _requirements_of(result):
    """An asv Results' requirements (the matrix entries of its environment)."""
    params = dict(result.params or {})
    for key in ("machine", "python", "arch", "cpu", "num_cpu", "os", "ram", "version"):
        params.pop(key, None)
    return params


def requirement_name(name):
    """A requirement's name as pip compares them (PEP 503: case, and runs of - _ . alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_result_file(path):
    path = Path(path)
    return path.suffix == ".json" and path.name != "machine.json"


def machines(results_dir):
    """Machines with results under ``results_dir``."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    return sorted(p.name for p in results_dir.iterdir() if (p / "machine.json").is_file()
                  or (p.is_dir() and any(is_result_file(f) for f in p.iterdir())))


def load_machine(results_dir, machine, on_error=None):
    """All results of one machine: a list of CommitResults (any order).

    A file that cannot be read is passed to ``on_error(path, error)`` and left
    out, or raises ResultsError when no ``on_error`` is given.
    """
    folder = Path(results_dir) / machine
    if not folder.is_dir():
        raise ResultsError(f"no results for machine {machine!r} in {results_dir}")
    loaded = []
    for path in sorted(folder.iterdir()):
        if not is_result_file(path):
            continue
        try:
            loaded.append(load_file(path, machine))
        except ResultsError as err:
            if on_error is None:
                raise
            on_error(path, err)
    return loaded


def stored_commits(results_dir, machine):
    """Commit hashes with a results file for ``machine`` (without reading the files)."""
    return set(commit_dates(results_dir, machine))


def commit_dates(results_dir, machine):
    """{commit hash: date in ms} from the results files of ``machine``, read without asv."""
    dates = {}
    folder = Path(results_dir, machine)
    for path in folder.glob("*.json") if folder.is_dir() else ():
        if path.name in ("machine.json", "benchmarks.json"):
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        commit = data.get("commit_hash") if isinstance(data, dict) else None
        if commit:
            dates[commit] = data.get("date")
    return dates


def load_benchmarks_json(results_dir):
    """asv's ``benchmarks.json`` (name -> description), or {} when there is none."""
    try:
        data = json.loads((Path(results_dir) / "benchmarks.json").read_text())
    except (OSError, ValueError):
        return {}
    data.pop("version", None)
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def described_machines(results_dir):
    """Machines with a machine.json under ``results_dir`` (asv's description of the host)."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "machine.json").is_file())


def load_machine_info(results_dir, machine):
    """asv's machine.json of ``machine``, or None when there is none; {} when unreadable."""
    path = Path(results_dir) / machine / "machine.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def merge_result_file(staged, dest):
    """Write the results file ``staged`` to ``dest``; where ``dest`` holds other benchmarks
    of the same commit and environment (an earlier partial run), keep them beside the new."""
    data = json.loads(Path(staged).read_text())
    try:
        old = json.loads(Path(dest).read_text())
    except (OSError, ValueError):
        old = None
    if old and old.get("result_columns") == data.get("result_columns"):
        merged = dict(old)
        merged.update({k: v for k, v in data.items() if k not in ("results", "durations")})
        merged["results"] = {**old.get("results", {}), **data.get("results", {})}
        merged["durations"] = {**old.get("durations", {}), **data.get("durations", {})}
        data = merged
    return atomic_write_text(dest, json.dumps(data, separators=(",", ":")))


# --------------------------------------------------------------------------- stacks

#: Beside a machine's results: the stack each (commit, environment) was measured in, as
#: the benchmarks read it inside asv's environment (benchmarks/support/provenance.py).
_provenance = support_module("provenance")
STACK_FOLDER = _provenance.FOLDER
#: The packages the reports name for every result: pyhf's dependencies and backends.
SHOWN_PACKAGES = ("numpy", "scipy", "jax", "jaxlib", "iminuit", "torch", "tensorflow")


@dataclass(frozen=True)
class StackRecord:
    """The Python and package versions one commit was measured with in one environment."""

    commit: str
    env_name: str
    python: str
    packages: dict
    path: Path = None

    def version(self, name):
        return self.packages.get(requirement_name(name))

    def shown(self, names=SHOWN_PACKAGES):
        """{"python": ..., name: version or None} for the reports."""
        return {"python": self.python, **{name: self.version(name) for name in names}}

    def describe(self, names=SHOWN_PACKAGES):
        """'Python 3.13.0, numpy 2.5.5, jax 0.12.1' (packages not installed left out)."""
        return describe_shown(self.shown(names))


def describe_shown(shown):
    """One line from a ``StackRecord.shown()`` dict."""
    if not shown:
        return "stack not recorded"
    parts = [f"Python {shown.get('python') or '?'}"]
    parts += [f"{name} {version}" for name, version in shown.items()
              if name != "python" and version]
    return ", ".join(parts)


def stack_dir(results_dir, machine):
    return Path(results_dir) / machine / STACK_FOLDER


def stack_path(results_dir, machine, commit, env_name):
    """Where the stack of ``commit`` in ``env_name`` is recorded."""
    return stack_dir(results_dir, machine) / _provenance.record_name(commit, env_name)


def load_stacks(results_dir, machine, on_error=None):
    """{(commit, env_name): StackRecord} of ``machine``; an unreadable record goes to
    ``on_error(path, error)`` (or raises ResultsError) and is left out."""
    stacks = {}
    folder = stack_dir(results_dir, machine)
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else ():
        try:
            data = json.loads(path.read_text())
            record = StackRecord(
                commit=str(data["commit"]), env_name=str(data["env_name"]),
                python=str(data["python"]),
                packages={requirement_name(k): str(v) for k, v in dict(data["packages"]).items()},
                path=path)
        except (OSError, ValueError, KeyError, TypeError) as err:
            error = ResultsError(f"{path}: not a readable stack record ({type(err).__name__}: {err})")
            if on_error is None:
                raise error from None
            on_error(path, error)
            continue
        stacks[(record.commit, record.env_name)] = record
    return stacks


# --------------------------------------------------------------------------- skip reasons

#: Beside a machine's results: the benchmarks' own record of why they skipped
#: (benchmarks/support/skips.py), since asv's files keep no reason.
SKIP_LOG_FOLDER = "skips"
SKIP_LOG_ENV = settings.SKIP_LOG
#: The one kind of skip that is an expected change between commits.
REMOVED = "removed"


def skip_log_dir(results_dir, machine):
    return Path(results_dir) / machine / SKIP_LOG_FOLDER


def run_context_env(results_dir, machine, bench=()):
    """What the benchmarks of an ``asv run`` storing into ``results_dir`` as ``machine`` are told:
    that folder and that name (the utilization series go beside the results:
    benchmarks/support/monitor.py ``series_dir``), where to record why they skip, and the
    run's ``--bench`` regexes ``bench`` (a setup_cache computes only what they select).

    Every place the host runs ``asv run`` puts these in asv's environment: asv passes the
    benchmarks neither its results folder nor its machine name.
    """
    return {settings.RESULTS_DIR: str(Path(results_dir).absolute()), settings.MACHINE: machine,
            SKIP_LOG_ENV: str(skip_log_dir(results_dir, machine)),
            settings.SELECTION: json.dumps(list(bench))}


@dataclass(frozen=True)
class SkipReason:
    kind: str  # "removed" (pyhf removed the feature) or "unavailable" (anything else)
    reason: str


def load_skip_reasons(results_dir, machine):
    """{(commit, env_name, benchmark class, params): SkipReason}; the last record wins.

    A damaged line is left out: a missing reason only makes the gate stricter.
    """
    reasons = {}
    folder = skip_log_dir(results_dir, machine)
    if not folder.is_dir():
        return reasons
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                item = json.loads(line)
                key = (item["commit"], item["env_name"], item["benchmark_class"],
                       tuple(item["params"]))
                reasons[key] = SkipReason(item["kind"], item["reason"])
            except (ValueError, KeyError, TypeError):
                continue
    return reasons


def skip_reason_of(reasons, commit, env_name, measurement):
    """The recorded reason ``measurement`` (a skip at ``commit`` in ``env_name``) was skipped, or None."""
    benchmark_class = measurement.benchmark.rsplit(".", 1)[0]
    return reasons.get((commit, env_name, benchmark_class, tuple(measurement.params)))


def state_rows(results_dir, machine, selected=lambda label: True, commits=None):
    """[(commit, env_name, label, state, value, skip kind, skip reason)] of the selected
    measurements, one row each: what the dashboard shows, with the recorded reason of every n/a."""
    reasons = load_skip_reasons(results_dir, machine)
    rows = []
    for loaded in load_machine(results_dir, machine):
        if commits is not None and loaded.commit not in commits:
            continue
        for key in sorted(loaded.measurements):
            measurement = loaded.measurements[key]
            if not selected(measurement.label):
                continue
            why = skip_reason_of(reasons, loaded.commit, loaded.env_name, measurement) \
                if measurement.state == SKIPPED else None
            rows.append((loaded.commit, loaded.env_name, measurement.label, measurement.state,
                         measurement.value if measurement.state == OK else None,
                         why.kind if why else None, why.reason if why else None))
    return rows
