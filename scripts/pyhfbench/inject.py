"""A pyhf with a known slowdown in a hot path, for measuring what the gate's lanes catch.

``write_slowed_pyhf(dest, loops)`` copies the installed pyhf package to
``dest/pyhf`` and makes every ``Model.logpdf`` call (the likelihood every
fit evaluates) run ``loops`` extra iterations of a pure-Python loop first:
real extra work on the CPU (not a sleep), and a deterministic number of extra
instructions. Put ``dest`` first on ``sys.path`` (PYTHONPATH) to use it.
``loops_for(fraction, ...)`` sizes the loop for a wanted slowdown. Used by
the sensitivity runs in docs/gate-lanes.md.
"""

import shutil
from pathlib import Path

PATCH = '''

# --- injected by pyhf-benchmarks (scripts/pyhfbench/inject.py): extra work per logpdf
INJECTED_LOOPS = {loops}


def _injected_logpdf(original):
    def logpdf(self, pars, data):
        total = 0
        for i in range(INJECTED_LOOPS):
            total += i
        return original(self, pars, data)
    return logpdf


from pyhf import pdf as _injected_pdf  # noqa: E402

_injected_pdf.Model.logpdf = _injected_logpdf(_injected_pdf.Model.logpdf)
'''


def write_slowed_pyhf(dest, loops):
    """Copy the importable pyhf to ``dest/pyhf`` with ``loops`` extra iterations per logpdf."""
    import pyhf

    source = Path(pyhf.__file__).resolve().parent
    target = Path(dest) / "pyhf"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    init = target / "__init__.py"
    init.write_text(init.read_text() + PATCH.format(loops=int(loops)))
    return Path(dest)


def loops_for(fraction, base_cost, logpdf_calls, cost_per_loop):
    """Loop iterations per logpdf call that add ``fraction`` of ``base_cost`` to the whole call
    (costs in one unit: seconds or instructions)."""
    if logpdf_calls <= 0 or cost_per_loop <= 0:
        raise ValueError("logpdf_calls and cost_per_loop must be positive")
    return max(0, round(fraction * base_cost / (logpdf_calls * cost_per_loop)))
