"""The suite's own modules (benchmarks/support) as the host's commands import them: the same
code asv runs inside its environments, ``settings`` first (every ``PYHF_BENCH_*`` variable)."""

import importlib
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def support_module(name):
    """A module of benchmarks/support, imported from this checkout."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module(f"benchmarks.support.{name}")


settings = support_module("settings")
