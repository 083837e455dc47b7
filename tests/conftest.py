"""Shared test set-up: import paths, the local stand-ins for GitHub and HEPData, and the
session-wide fixtures built on them (pyhf's history, the pallets, sdists, a wheelhouse)."""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT, REPO_ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

#: The local pallet mirror beside the checkout (HEPData stand-in).
SHARED_PALLETS = Path(os.environ.get("PYHF_BENCH_TEST_MIRROR", REPO_ROOT.parent / "shared" / "pallets"))


#: pyhf's real history (GitHub stand-in): main, release/v0.7.x and the release tags.
PYHF_BUNDLE = Path(os.environ.get("PYHF_BENCH_TEST_BUNDLE",
                                  REPO_ROOT.parent / "shared" / "pyhf" / "pyhf-main.bundle"))

#: Commits of pyhf's real main that the end-to-end tests measure.
TENSORFLOW_REMOVED = "a4eefc50"  # PR #2609
BEFORE_TENSORFLOW_REMOVAL = "135d029f"  # its parent
PYTORCH_REMOVED = "c30e3376"  # PR #2611


def clone_pyhf_history(dest):
    """A working-tree clone of the bundle, with ``release/v0.7.x`` as a local branch too."""
    import subprocess

    if not PYHF_BUNDLE.is_file():
        pytest.fail(f"pyhf's history {PYHF_BUNDLE} is missing (see ../shared/pyhf/README.md)")
    subprocess.run(["git", "clone", "--quiet", str(PYHF_BUNDLE), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "branch", "--quiet", "release/v0.7.x",
                    "origin/release/v0.7.x"], check=True)
    return dest


@pytest.fixture(scope="session")
def pyhf_history(tmp_path_factory):
    """A clone of pyhf's real history, made once per test session; do not commit to it."""
    return clone_pyhf_history(tmp_path_factory.mktemp("pyhf-history") / "pyhf")


@pytest.fixture(scope="session")
def shared_pallets():
    if not SHARED_PALLETS.is_dir():
        pytest.fail(f"the local pallet mirror {SHARED_PALLETS} is missing")
    return SHARED_PALLETS


@pytest.fixture(scope="session")
def sdist_cache(tmp_path_factory):
    """pyhf release sdists, downloaded once per test session."""
    cached = os.environ.get("PYHF_BENCH_SDIST_CACHE")
    return Path(cached) if cached else tmp_path_factory.mktemp("sdists")


@pytest.fixture(scope="session")
def built_wheelhouse(pyhf_history, tmp_path_factory):
    """Wheels of v0.7.6 and main's tip built from pyhf's history, once per test session:
    ``(wheelhouse folder, manifest)`` (tests/test_offline_node.py, test_gpu_acceptance.py)."""
    from pyhfbench import wheelhouse

    dest = tmp_path_factory.mktemp("wheelhouse") / "wh"
    manifest = wheelhouse.build_wheelhouse(pyhf_history, ["v0.7.6", "main"], dest, log=lambda m: None)
    return dest, manifest
