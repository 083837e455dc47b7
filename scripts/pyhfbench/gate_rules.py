"""The gate's rules: thresholds, statistics and confirmation settings per benchmark
(``--config``, a JSON file of defaults and per-benchmark overrides: docs/gate.md)."""

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path


class GateError(RuntimeError):
    """The gate cannot run: no results, unknown machine or commit, bad configuration."""


@dataclass
class Rule:
    """How one benchmark (parameter combination) is judged."""

    #: time_: flag when statistic(after) / statistic(before) >= 1 + threshold.
    threshold: float = 0.25
    #: time_: "min" (the best sample: other processes' load only ever adds time, so it moves
    #: the median far more than the minimum) or "median" (asv's own value).
    statistic: str = "min"
    #: time_: the samples must also differ at this p-value (Mann-Whitney U); None: ratio only.
    p_threshold: float = 0.002
    #: Compare with the most lenient of the last ``window`` good measurements
    #: (rolling worst for slowdowns): 1 is the last good measurement only.
    window: int = 1
    #: peakmem_/mem_: flag when after / before >= 1 + mem_threshold and after - before >= mem_min_bytes.
    mem_threshold: float = 0.10
    mem_min_bytes: float = 1 << 20
    #: track_ as results: flag when |after - before| > abs_tol + rel_tol * |before|.
    rel_tol: float = 1e-6
    abs_tol: float = 1e-9
    #: track_: None (what the track declares, benchmarks/support/tracks.py), or to override it
    #: "result" (any move is a finding), "higher_is_worse", "lower_is_worse" or "ignore".
    track: str = None
    #: track_ measurements: the relative move in the worse direction that counts
    #: (None: the declaration's, else ``threshold``), and the absolute one (None: the
    #: declaration's floor, else 0); both must be reached.
    track_threshold: float = None
    track_floor: float = None
    #: track_ declared deterministic (instruction counts): the relative growth that counts
    #: where neither the declaration nor ``track_threshold`` sets one.
    count_threshold: float = 0.02
    #: Leave this benchmark out of the gate entirely.
    ignore: bool = False
    #: scripts/nightly's side-by-side confirmation of a time_ finding: the pair measured again
    #: must show the ratio again, with the samples different at this p-value (a test of one
    #: hypothesis already singled out, hence less strict than ``p_threshold``).
    confirm_p_threshold: float = 0.05
    #: ... and the ratio of this statistic: the median by default, because both commits are
    #: measured in the same minutes (interleaved rounds), so load affects both alike and the
    #: median is steadier than the single fastest sample.
    confirm_statistic: str = "median"
    #: Paired confirmation (paired.py, A B A B ...): confirmed when the confidence interval
    #: of the per-pair ratio lies above 1 and reaches 1 + confirm_threshold.
    confirm_threshold: float = 0.10
    confirm_confidence: float = 0.99
    confirm_pairs: int = 21
    #: ... split among this many fresh pairs of worker processes, each of which must show it.
    confirm_generations: int = 3
    #: With a confirmation to follow (scripts/nightly), a time_ whose statistic grew by this
    #: much is a candidate, without the significance test: the paired run decides.
    candidate_threshold: float = 0.05

    def __post_init__(self):
        for name in ("statistic", "confirm_statistic"):
            if getattr(self, name) not in ("median", "min"):
                raise GateError(f"{name} must be 'median' or 'min', not {getattr(self, name)!r}")
        if self.track not in (None, "result", "higher_is_worse", "lower_is_worse", "ignore"):
            raise GateError(f"unknown track mode {self.track!r}")
        if self.window < 1:
            raise GateError("window must be at least 1")
        if (self.threshold < 0 or self.mem_threshold < 0 or (self.track_threshold or 0) < 0
                or self.count_threshold < 0 or self.confirm_threshold < 0
                or self.candidate_threshold < 0):
            raise GateError("thresholds must not be negative")
        if self.confirm_generations < 1:
            raise GateError("confirm_generations must be at least 1")


class Rules:
    """Default rule plus per-benchmark overrides keyed by regex over ``name(params)``."""

    FIELDS = {f.name for f in dataclasses.fields(Rule)}

    def __init__(self, defaults=None, overrides=()):
        self.defaults = self._check(defaults or {}, "defaults")
        self.overrides = [(re.compile(pattern), self._check(values, pattern))
                          for pattern, values in (overrides.items() if isinstance(overrides, dict)
                                                  else overrides)]
        Rule(**self.defaults)  # validate
        self._cache = {}

    @classmethod
    def _check(cls, values, where):
        unknown = set(values) - cls.FIELDS
        if unknown:
            raise GateError(f"unknown rule keys in {where}: {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(cls.FIELDS))}")
        return dict(values)

    @classmethod
    def from_file(cls, path):
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise GateError(f"cannot read the gate configuration {path}: {err}") from None
        unknown = set(data) - {"defaults", "benchmarks"}
        if unknown:
            raise GateError(f"{path}: unknown sections {', '.join(sorted(unknown))}")
        try:
            return cls(data.get("defaults"), data.get("benchmarks", {}))
        except re.error as err:
            raise GateError(f"{path}: bad regex: {err}") from None

    def for_label(self, label):
        if label not in self._cache:
            values = dict(self.defaults)
            for pattern, override in self.overrides:
                if pattern.search(label):
                    values.update(override)
            self._cache[label] = Rule(**values)
        return self._cache[label]

    def describe(self):
        return {"defaults": dataclasses.asdict(Rule(**self.defaults)),
                "benchmarks": {p.pattern: v for p, v in self.overrides}}
