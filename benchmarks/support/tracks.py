"""What a ``track_`` benchmark records, declared next to its definition and read by the gate.

Two kinds, each a decorator that also sets the benchmark's ``unit``:

``@result("CLs")``
    a value that must not move for unchanged code: CLs, twice-NLL,
    differences to a reference, counts of function evaluations. Any move
    beyond a tiny tolerance is a finding.
``@measurement("toys/s", better="higher", threshold=0.25, floor=None)``
    a figure that varies from run to run (throughput, utilization, memory,
    overhead): only a move in the worse direction by at least ``threshold``
    (relative; None: the gate's default) and by at least ``floor`` (in the
    unit; for figures near zero, where a relative move means nothing) is a
    finding.
``@measurement("instructions", better="lower", threshold=0.02, deterministic=True)``
    a figure that repeats exactly for unchanged code on one machine (an
    instruction count): judged like a measurement, but against the last good
    value (no rolling window, no noise to absorb), with the gate's
    ``count_threshold`` (2 %) where the declaration gives none, and never
    re-measured.

Why the unit carries the declaration: asv's ``benchmarks.json`` keeps only
its standard attributes (``unit`` among them), and the gate judges results
from that file, on a host where the benchmark code of the night may differ
from the checkout. So ``unit`` becomes ``"toys/s [higher is better, 25%]"``
(``"% [lower is better, 50%, at least 5]"`` with a floor)
or ``"CLs [result]"``: stored with every run, readable by ``parse``, and
still a readable axis label on the dashboard. A track without such a unit
is undeclared: the gate refuses to judge it (the night is broken) and
``tests/test_tracks.py`` fails on it.
"""

import re
from dataclasses import dataclass

RESULT = "result"
MEASUREMENT = "measurement"
BETTER = ("higher", "lower")

_PATTERN = re.compile(
    r"^(?P<unit>.*?) ?\[(?:(?P<result>result)|(?P<better>higher|lower) is better"
    r"(?:, (?P<percent>\d+(?:\.\d+)?)%)?(?:, at least (?P<floor>\d+(?:\.\d+)?))?"
    r"(?P<deterministic>, deterministic)?)\]$")


@dataclass(frozen=True)
class Declaration:
    kind: str  # RESULT or MEASUREMENT
    unit: str  # the unit proper, e.g. "toys/s"
    better: str = None  # measurements: "higher" or "lower"
    threshold: float = None  # measurements: relative move that counts (None: gate default)
    floor: float = None  # measurements: absolute move (in the unit) that counts, besides
    deterministic: bool = False  # measurements: repeats exactly (instruction counts)

    @property
    def encoded(self):
        if self.kind == RESULT:
            return f"{self.unit} [result]"
        percent = "" if self.threshold is None else f", {self.threshold * 100:.15g}%"
        floor = "" if self.floor is None else f", at least {self.floor:.15g}"
        exact = ", deterministic" if self.deterministic else ""
        return f"{self.unit} [{self.better} is better{percent}{floor}{exact}]"


def parse(unit):
    """The Declaration a ``unit`` string encodes, or None for an undeclared one."""
    match = _PATTERN.match(unit or "")
    if not match:
        return None
    if match["result"]:
        return Declaration(RESULT, match["unit"])
    threshold = None if match["percent"] is None else float(match["percent"]) / 100
    floor = None if match["floor"] is None else float(match["floor"])
    return Declaration(MEASUREMENT, match["unit"], match["better"], threshold, floor,
                       bool(match["deterministic"]))


def _declare(declaration):
    def decorate(function):
        if not function.__name__.startswith("track_"):
            raise TypeError(f"{function.__name__}: only track_ benchmarks take a declaration")
        function.unit = declaration.encoded
        return function

    return decorate


def result(unit):
    """Declare a track whose value must not move for unchanged code."""
    return _declare(Declaration(RESULT, unit))


def measurement(unit, better, threshold=None, floor=None, deterministic=False):
    """Declare a measured track: a finding only when it moves against ``better`` by
    ``threshold`` (relative) and ``floor`` (absolute). ``deterministic``: it repeats
    exactly for unchanged code (instruction counts), so it is never re-measured."""
    if better not in BETTER:
        raise ValueError(f"better must be one of {BETTER}, not {better!r}")
    for name, value in (("threshold", threshold), ("floor", floor)):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be positive")
    return _declare(Declaration(MEASUREMENT, unit, better, threshold, floor, bool(deterministic)))
