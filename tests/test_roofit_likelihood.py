"""ROOT's likelihood equals pyhf's on the real pallets, up to a constant.

For each pallet's signal model (the published or synthetic signal patch the
benchmarks use), the ROOT workspace from ``roofit.build`` is evaluated at
20 random parameter points and ROOT's NLL minus pyhf's must be the same
constant to 1e-6: a converter bug (a modifier applied to the wrong samples,
a wrong interpolation code, a constraint with the wrong width) shows here and
cannot hide behind fit tolerances. Needs ROOT (``pip install root``) and the
local pallet mirror; skipped, with the reason, without ROOT.
"""

import pyhf
import pytest

from benchmarks.support import pallets
from pyhfbench import roofit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not roofit.root_available(), reason=roofit.NO_ROOT),
]

REAL = ["sbottom/RegionA", "sbottom/RegionB", "sbottom/RegionC", "staus",
        "compressed-sleptons", "compressed-ewkinos"]


@pytest.fixture(scope="module", autouse=True)
def pallet_mirror(shared_pallets, tmp_path_factory):
    """Pallets from the local mirror into a temporary cache; pyhf on NumPy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYHF_BENCH_PALLET_MIRROR", str(shared_pallets))
        patch.setenv("PYHF_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        pallets.clear_caches()
        pyhf.set_backend("numpy", "scipy")
        yield
    pallets.clear_caches()


def signal_model(key, **config_kwargs):
    model, data = pallets.load_model(key, pallets.signal_patch(key), **config_kwargs)
    return model, [float(x) for x in data]


@pytest.mark.parametrize("key", REAL + ["generated/small"])
def test_root_and_pyhf_likelihoods_differ_by_a_constant(key):
    model, data = signal_model(key)
    root = roofit.build(model, data)
    points, _ = roofit.random_points(model, data, count=20, seed=7)
    differences = roofit.nll_differences(root, data, points)
    assert roofit.spread(differences) < 1e-6, (
        f"{key}: ROOT NLL - pyhf NLL varies by {roofit.spread(differences):.3g} over 20 points")


def test_a_wrong_interpolation_code_is_caught(monkeypatch):
    """The check is sharp: ROOT's exponential normsys (its code 1) instead of
    pyhf's code4 differs only inside |alpha| < 1, and is still caught."""
    model, data = signal_model("sbottom/RegionA")
    monkeypatch.setitem(roofit.NORMSYS_CODES, "code4", 1)
    root = roofit.build(model, data)
    points, _ = roofit.random_points(model, data, count=20, seed=7)
    assert roofit.spread(roofit.nll_differences(root, data, points)) > 1e-4


def test_cls_on_the_published_sbottom_point_agrees_with_the_reference():
    """RegionA sbottom_1300_205_60: pyhf's published regression value, from ROOT."""
    key, patch = "sbottom/RegionA", "sbottom_1300_205_60"
    model, data = pallets.load_model(key, patch)
    root = roofit.build(model, [float(x) for x in data])
    cls_obs, cls_exp = roofit.hypotest(root)
    reference = pallets.reference_results(key, patch)
    # Both fit with default tolerances: agreement to a few 1e-4, not pyhf's rtol 1e-5.
    assert cls_obs == pytest.approx(reference["cls_obs"], abs=1e-3)
    assert cls_exp == pytest.approx(reference["cls_exp"][2], abs=1e-3)


def test_a_test_from_a_fresh_build_is_refused_where_its_asimov_fits_fail_and_passes_after_a_fit():
    """compressed-sleptons: from a fresh build's step sizes RooStats' fits to the Asimov
    data end where they started (q_A = 0, so CLs would read 1); hypotest refuses that,
    and after prepare_for_tests (one fit) it gives the tail value of the table in docs/root-vs-pyhf.md."""
    model, data = signal_model("compressed-sleptons")
    root = roofit.build(model, data)
    with pytest.raises(RuntimeError, match="q_A = 0"):
        roofit.hypotest(root)
    cls_obs, cls_exp = roofit.hypotest(roofit.prepare_for_tests(roofit.build(model, data)))
    assert cls_obs == pytest.approx(5.96e-6, rel=0.01) and cls_exp == pytest.approx(5.13e-6, rel=0.01)
