"""``scripts/pallets`` run as a user runs it, on a private cache and registry copy."""

import os
import shutil
import subprocess
import sys

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "pallets"


def pallets_command(tmp_path):
    """A function running scripts/pallets with a private cache and registry copy; it returns
    (rc, stdout, stderr) and has ``registry`` and ``cache`` attributes."""
    registry = tmp_path / "registry.json"
    shutil.copyfile(REPO_ROOT / "pallets" / "registry.json", registry)
    env = dict(os.environ, PYHF_BENCH_CACHE=str(tmp_path / "cache"),
               PYHF_BENCH_REGISTRY=str(registry))
    env.pop("PYHF_BENCH_PALLET_MIRROR", None)

    def call(*args):
        result = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO_ROOT,
                                env=env, capture_output=True, text=True, timeout=300)
        return result.returncode, result.stdout, result.stderr

    call.registry, call.cache = registry, tmp_path / "cache"
    return call
