"""Inputs that cannot be read are findings, not gaps: checks shared by the gate, the report and
publishing.

* ``check_values(loaded)``: the fields of a loaded results file (``results.CommitResults``)
  hold what asv writes there (a hex commit hash, a numeric date, numbers, NaN or null as
  values, samples and statistics); ``ResultsError`` naming the file and the field otherwise.
* ``benchmarks_json(results_dir)``: asv's ``benchmarks.json``, or ``ResultsError`` naming it
  where it is missing or cannot be read (``results.load_benchmarks_json`` reads those as empty).
* ``unreadable(results_dir, machines)``: every results file and ``benchmarks.json`` that cannot
  be read, with why; ``require_readable`` raises one ``ResultsError`` naming them.
"""

import json
import math
import re
from numbers import Real
from pathlib import Path

from . import results as resultslib
from .results import ResultsError

_HASH = re.compile(r"[0-9a-fA-F]{4,64}")


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _bad(path, field, value, wanted):
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ResultsError(f"{path}: field {field} is {shown}, not {wanted}")


def check_values(loaded):
    """Raise ResultsError naming the file and the field where a loaded results file holds a
    value of the wrong type; return ``loaded``."""
    path = loaded.path
    if not isinstance(loaded.commit, str) or not _HASH.fullmatch(loaded.commit):
        _bad(path, "commit_hash", loaded.commit, "a hexadecimal commit hash")
    if not _is_number(loaded.date) or not math.isfinite(loaded.date):
        _bad(path, "date", loaded.date, "a number (milliseconds since the epoch)")
    if not isinstance(loaded.env_name, str):
        _bad(path, "env_name", loaded.env_name, "a string")
    for measurement in loaded.measurements.values():
        where = f"results[{measurement.label!r}]"
        value = measurement.value
        if value is not None and not _is_number(value):
            _bad(path, f"{where} value", value, "a number, NaN or null")
        for sample in measurement.samples or ():
            if sample is not None and not _is_number(sample):
                _bad(path, f"{where} samples", sample, "a number")
        for key, stat in (measurement.stats or {}).items():
            if stat is not None and not _is_number(stat):
                _bad(path, f"{where} stats {key!r}", stat, "a number")
    for name, duration in loaded.durations.items():
        if duration is not None and not _is_number(duration):
            _bad(path, f"durations[{name!r}]", duration, "a number")
    return loaded


def benchmarks_json(results_dir):
    """asv's ``benchmarks.json`` in ``results_dir`` as {name: description}; ResultsError naming
    the file where it is missing, truncated or not asv's."""
    path = Path(results_dir) / "benchmarks.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing (asv writes it beside the results; without it "
                           "no benchmark's unit, type or parameter names is known)") from None
    except (OSError, ValueError, RecursionError) as err:
        raise ResultsError(f"{path}: not readable: {type(err).__name__}: {err}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: not asv's benchmarks.json (a JSON object)")
    data.pop("version", None)
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def unreadable(results_dir, machines=None):
    """[(path, why)] of the results files of ``machines`` (default: every machine) and of
    ``benchmarks.json`` that cannot be read."""
    results_dir = Path(results_dir)
    problems = []
    names = list(machines) if machines else resultslib.machines(results_dir)
    for machine in names:
        folder = results_dir / machine
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not resultslib.is_result_file(path):
                continue
            try:
                resultslib.load_file(path, machine)
            except ResultsError as err:
                problems.append((path, str(err)))
    if names:
        try:
            benchmarks_json(results_dir)
        except ResultsError as err:
            problems.append((results_dir / "benchmarks.json", str(err)))
    return problems


def require_readable(results_dir, machines=None):
    """Raise one ResultsError naming every input of ``results_dir`` that cannot be read."""
    problems = unreadable(results_dir, machines)
    if problems:
        raise ResultsError("unreadable input, nothing published: " + "; ".join(
            why for _, why in problems))
