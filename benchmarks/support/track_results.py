"""The track_ results of a class, computed once per combination in its setup_cache.

asv starts a process per benchmark method and combination, so two track_
methods reading the same fit or hypotest each prepared the model and ran it
again. ``compute(cls)`` prepares every combination of ``cls`` in the
setup_cache's one process and keeps what ``results()`` returns (or the skip,
or the error); ``common.ResultsOnce`` reads it back.
"""

import itertools
import re
import traceback

from . import settings, suite


def key(*params):
    return "|".join(str(p) for p in params)


def combinations(cls, selection=None):
    """The combinations of ``cls`` some track_ method of it runs with in this asv run: those
    its ``--bench`` regexes ``selection`` select (default: as the host passed them; []: all),
    and in a quick-suite run only those of the quick track_ methods. Not told the selection
    (a bare ``asv run``): none, and each track_ process computes its own result."""
    selection = settings.selection() if selection is None else selection
    if selection is None:
        return []
    tracks = [m for m in suite.benchmark_methods(cls) if m.startswith("track_")]
    wanted = []
    for combo in itertools.product(*cls.params):
        shown = ", ".join(map(repr, combo))
        for method in tracks:
            if suite.in_quick_run() and combo not in suite.quick_combinations(cls, method):
                continue
            name = suite.benchmark_name(cls.__module__, cls, method)
            # As asv matches: the name alone selects every combination, else name(params).
            if not selection or any(re.search(regex, name) or re.search(regex, f"{name}({shown})")
                                    for regex in selection):
                wanted.append(combo)
                break
    return wanted


def compute(cls):
    """{key(*combination): {"status": "ok", "results"} | {"status": "skip", "error"} |
    {"status": "error", "reason", "traceback"}} for the combinations of ``cls``."""
    cache = {}
    for combo in combinations(cls):
        bench = cls()
        try:
            bench.setup(None, *combo)
            bench.ensure_prepared()
            cache[key(*combo)] = {"status": "ok", "results": bench.results()}
        except NotImplementedError as err:
            # The exception itself: its kind ("removed") is what the gate reads.
            cache[key(*combo)] = {"status": "skip", "error": err}
        except Exception as err:
            cache[key(*combo)] = {"status": "error", "reason": f"{type(err).__name__}: {err}",
                                  "traceback": traceback.format_exc()}
    return cache


def entry(cache, *params):
    """The cache's entry of a combination, or None (no cache, or not computed)."""
    return None if cache is None else cache.get(key(*params))
