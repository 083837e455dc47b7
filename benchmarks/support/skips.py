"""Why a combination was skipped, written where the host can read it.

asv stores a skip as NaN and keeps no reason, so ``setup`` of every benchmark
class appends one JSON line per skip to ``$PYHF_BENCH_SKIP_LOG/<commit
hash8>-<asv env name>.jsonl`` (the host sets the folder when it calls asv;
without it nothing is written). The gate reads the kind (``removed`` is an
expected change, anything else a finding) and the reports show the reason.
"""

import functools
import json
import os
from pathlib import Path

from asv_runner.benchmarks.mark import SkipNotImplemented

from . import provenance, settings

SKIP_LOG_ENV = settings.SKIP_LOG


def benchmark_class_name(cls):
    """``bench_fit.MaximumLikelihoodFit``: the class as asv names it, without its package."""
    module = cls.__module__.split(".", 1)[-1] if "." in cls.__module__ else cls.__module__
    return f"{module}.{cls.__qualname__}"


def record(cls, params, error):
    folder = settings.skip_log_dir()
    if folder is None:
        return
    commit = os.environ.get("ASV_COMMIT", "unknown")
    env_name = os.environ.get("ASV_ENV_NAME", "unknown")
    line = {
        "commit": commit,
        "env_name": env_name,
        "benchmark_class": benchmark_class_name(cls),
        "params": [repr(p) for p in params],
        "kind": getattr(error, "kind", "unavailable"),
        "reason": str(error),
    }
    path = Path(folder) / f"{commit[:8]}-{env_name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One short write in append mode: lines of parallel processes do not interleave.
    with open(path, "a") as handle:
        handle.write(json.dumps(line) + "\n")


def skip(reason, bench, params):
    """Skip from inside a benchmark body (asv: n/a; a NotImplementedError there is a failure).

    The reason is printed as asv prints a setup's and recorded for ``bench`` at ``params``
    (without a setup_cache's value) as ``setup``'s skips are.
    """
    error = SkipNotImplemented(reason)
    record(type(bench), params, error)
    print(f"asv: skipped: {reason}")
    raise error


def recording(setup):
    """``setup`` that records the NotImplementedError it raises (asv's skip) before re-raising it.

    Only the outermost ``setup`` records: a subclass's calls its parent's with fewer parameters.
    """

    @functools.wraps(setup)
    def wrapper(self, *params):
        # Every benchmark process passes here first: the place to record its stack.
        provenance.record_once()
        depth = getattr(self, "_skip_record_depth", 0)
        self._skip_record_depth = depth + 1
        try:
            return setup(self, *params)
        except NotImplementedError as err:
            if depth == 0:
                # With setup_cache, asv passes the cached value first: not a parameter.
                shown = params[1:] if hasattr(type(self), "setup_cache") else params
                record(type(self), shown, err)
            raise
        finally:
            self._skip_record_depth = depth

    wrapper._records_skips = True
    return wrapper


class RecordsSkips:
    """Base of every benchmark class: each ``setup`` it or a subclass defines records its skips."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        setup = cls.__dict__.get("setup")
        if setup is not None and not getattr(setup, "_records_skips", False):
            cls.setup = recording(setup)
