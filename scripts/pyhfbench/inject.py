"""A pyhf with a known slowdown in a hot path, for measuring what the gate's lanes catch.

``write_slowed_pyhf(dest, loops)`` copies the installed pyhf package to
``dest/pyhf`` and makes every ``Model.logpdf`` call (the likelihood every
fit evaluates) run ``loops`` extra iterations of a pure-Python loop first:
real extra work on the CPU (not a sleep), and a deterministic number of extra
instructions. Put ``dest`` first on ``sys.path`` (PYTHONPATH) to use it.
``loops_for(fraction, ...)`` sizes the loop for a wanted slowdown. Used by
the sensitivity runs in docs/gate-lanes.md.

``slowed_source(text, function, loops)`` puts such a loop at the top of one
function's body in a source file's text, so that the function's own cost
grows: a commit on a local pyhf history (``localrepo.add_commit``) or a copy
of the installed pyhf (``copy_pyhf``) with a slowdown in one known place,
which the explanation of a slowdown must name (docs/regression-reports.md).
"""

import re
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


def copy_pyhf(dest):
    """A copy of the importable pyhf package in ``dest/pyhf``; returns that folder."""
    import pyhf

    source = Path(pyhf.__file__).resolve().parent
    target = Path(dest) / "pyhf"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def slowed_source(text, function, loops):
    """``text`` with ``loops`` iterations of a pure-Python loop first in ``def function``'s body."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if re.match(rf"\s*def {function}\(", line)]
    if len(starts) != 1:
        raise ValueError(f"{len(starts)} definitions of {function}() in the text, not one")
    indent = re.match(r"\s*", lines[starts[0]]).group(0) + "    "
    end = starts[0]
    while not lines[end].split("#")[0].rstrip().endswith(":"):
        end += 1
    loop = (f"{indent}for _injected in range({int(loops)}):  # injected by pyhf-benchmarks\n"
            f"{indent}    pass\n")
    return "".join(lines[: end + 1]) + loop + "".join(lines[end + 1:])


def write_slowed_pyhf(dest, loops):
    """Copy the importable pyhf to ``dest/pyhf`` with ``loops`` extra iterations per logpdf."""
    target = copy_pyhf(dest)
    init = target / "__init__.py"
    init.write_text(init.read_text() + PATCH.format(loops=int(loops)))
    return Path(dest)


def loops_for(fraction, base_cost, logpdf_calls, cost_per_loop):
    """Loop iterations per logpdf call that add ``fraction`` of ``base_cost`` to the whole call
    (costs in one unit: seconds or instructions)."""
    if logpdf_calls <= 0 or cost_per_loop <= 0:
        raise ValueError("logpdf_calls and cost_per_loop must be positive")
    return max(0, round(fraction * base_cost / (logpdf_calls * cost_per_loop)))
