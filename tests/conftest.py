"""Shared test set-up: import paths and the local stand-ins for GitHub and HEPData."""

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
