"""The pyhf -> ROOT converter (scripts/pyhfbench/roofit.py) on small hand-made models.

What it refuses and how it names parameters need no ROOT; the likelihood
checks run where ROOT is installed (``pip install root``) and are skipped,
with the reason, elsewhere. The real pallets are in test_roofit_likelihood.py.
"""

import importlib.util

import pyhf
import pytest

from pyhfbench import roofit

needs_root = pytest.mark.skipif(not roofit.root_available(), reason=roofit.NO_ROOT)


def sample(name, data, *modifiers):
    return {"name": name, "data": list(data), "modifiers": list(modifiers)}


def mod(kind, name, data=None):
    return {"type": kind, "name": name, "data": data}


def spec():
    """Two channels, every supported modifier; lumi on the simulated samples only, a
    normsys and a histosys sharing one parameter, a shapesys on the data-driven sample."""
    sr = [
        sample("signal", [3.0, 6.0, 2.0], mod("normfactor", "mu"), mod("lumi", "lumi"),
               mod("normsys", "sig_theory", {"hi": 1.1, "lo": 0.85}),
               mod("staterror", "staterror_SR", [0.3, 0.5, 0.2])),
        sample("ttbar", [40.0, 25.0, 12.0], mod("normfactor", "mu_ttbar"), mod("lumi", "lumi"),
               mod("normsys", "jes", {"hi": 1.06, "lo": 0.95}),
               mod("histosys", "jes", {"hi_data": [42.0, 26.0, 11.0], "lo_data": [37.5, 24.5, 13.0]}),
               mod("staterror", "staterror_SR", [2.0, 1.5, 1.2])),
        sample("fakes", [10.0, 8.0, 6.0], mod("shapesys", "fakes_SR", [3.0, 2.0, 2.5]),
               mod("normsys", "fake_rate", {"hi": 1.3, "lo": 0.7})),
    ]
    cr = [
        sample("ttbar", [200.0, 150.0], mod("normfactor", "mu_ttbar"), mod("lumi", "lumi"),
               mod("normsys", "jes", {"hi": 1.04, "lo": 0.97}),
               mod("histosys", "jes", {"hi_data": [205.0, 149.0], "lo_data": [194.0, 152.0]}),
               mod("staterror", "staterror_CR", [5.0, 4.0])),
        sample("fakes", [30.0, 20.0], mod("normsys", "fake_rate", {"hi": 1.2, "lo": 0.8})),
    ]
    return {
        "channels": [{"name": "SR", "samples": sr}, {"name": "CR", "samples": cr}],
        "observations": [{"name": "SR", "data": [55.0, 41.0, 19.0]},
                         {"name": "CR", "data": [236.0, 171.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
            {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.915, 1.085]],
             "inits": [1.0]},
            {"name": "mu", "bounds": [[0.0, 5.0]]},
        ]}}],
        "version": "1.0.0",
    }


def model_and_data(workspace=None, **config_kwargs):
    pyhf.set_backend("numpy", "scipy")
    workspace = pyhf.Workspace(workspace or spec())
    model = workspace.model(**config_kwargs)
    return model, [float(x) for x in workspace.data(model)]


# --- no ROOT needed ------------------------------------------------------------------------

def test_parameters_are_named_as_histfactory_names_them():
    model, _ = model_and_data()
    names = {(par, k): root for par, k, root in roofit.parameter_names(model)}
    assert names[("mu", 0)] == "mu" and names[("mu_ttbar", 0)] == "mu_ttbar"
    assert names[("jes", 0)] == "alpha_jes"  # normsys and histosys share one alpha
    assert names[("lumi", 0)] == "Lumi"
    assert names[("staterror_SR", 2)] == "gamma_stat_SR_bin_2"
    assert names[("staterror_CR", 1)] == "gamma_stat_CR_bin_1"
    assert names[("fakes_SR", 0)] == "gamma_fakes_SR_bin_0"
    assert len(names) == model.config.npars


def edited(change):
    workspace = spec()
    change(workspace)
    return workspace


REFUSED = {
    "shapefactor": (lambda ws: ws["channels"][0]["samples"][2]["modifiers"].append(
        mod("shapefactor", "free_shape")), "modifier type 'shapefactor' is not converted"),
    "staterror over channels": (lambda ws: [
        ws["channels"][0]["samples"][0]["modifiers"].pop(),
        ws["channels"][0]["samples"][1]["modifiers"][-1].update(name="staterror_all"),
        ws["channels"][1]["samples"][0]["modifiers"][-1].update(name="staterror_all"),
    ], "spans channels"),
    "two staterrors in a channel": (lambda ws: ws["channels"][0]["samples"][0]["modifiers"][-1].update(
        name="staterror_signal"), "several staterror modifiers"),
    "shapesys without uncertainty": (lambda ws: ws["channels"][0]["samples"][2]["modifiers"][0].update(
        data=[3.0, 0.0, 2.5]), "has no Poisson constraint in pyhf"),
    "staterror without yield": (lambda ws: [s.update(data=[0.0, *s["data"][1:]]) for s in
                                            ws["channels"][0]["samples"]], "ROOT takes relative errors"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_cannot_be_reproduced_is_refused_with_the_reason(case):
    change, reason = REFUSED[case]
    model, data = model_and_data(edited(change))
    with pytest.raises(roofit.UnsupportedModel, match=reason):
        roofit.build(model, data)


@pytest.mark.parametrize("kwargs, reason", [
    ({"modifier_settings": {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code4p"}}},
     "normsys interpolation code1"),
    ({"modifier_settings": {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code0"}}},
     "histosys interpolation code0"),
    ({"poi_name": None}, "without a POI"),
    ({"clip_bin_data": 0.0}, "clip_bin_data"),
    ({"clip_sample_data": 1.0}, "clip_sample_data=1.0"),
])
def test_model_settings_without_a_root_equivalent_are_refused(kwargs, reason):
    model, data = model_and_data(**kwargs)
    with pytest.raises(roofit.UnsupportedModel, match=reason):
        roofit.check_supported(model)


def test_without_root_the_converter_skips_with_the_reason(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ROOT" else real(name, *args))
    monkeypatch.setattr(roofit, "_ROOT", None)
    assert not roofit.root_available()
    with pytest.raises(NotImplementedError, match="ROOT is not installed in this environment"):
        roofit.import_root()


def test_support_modules_hold_no_benchmarks():
    prefixes = ("time_", "track_", "peakmem_", "mem_", "timeraw_")
    assert not [name for name in vars(roofit) if name.startswith(prefixes)]


# --- with ROOT -----------------------------------------------------------------------------

@needs_root
def test_the_likelihoods_agree_up_to_a_constant():
    model, data = model_and_data()
    root = roofit.build(model, data)
    points, _ = roofit.random_points(model, data, count=20, seed=1)
    differences = roofit.nll_differences(root, data, points)
    assert roofit.spread(differences) < 1e-6, differences
    # Fixed parameters stay fixed in ROOT, at pyhf's value.
    assert root.var("Lumi").isConstant() is False and root.var("mu").getMax() == 5.0


@needs_root
@pytest.mark.parametrize("correction", ["lumi_only_where_declared", "staterror_as_pyhf"])
def test_the_agreement_check_catches_a_missing_correction(correction):
    model, data = model_and_data()
    root = roofit.build(model, data, corrections=roofit.CORRECTIONS - {correction})
    points, _ = roofit.random_points(model, data, count=20, seed=1)
    assert roofit.spread(roofit.nll_differences(root, data, points)) > 1e-3


def edge_point(model, **values):
    """pyhf's initial values with the named ROOT variables (alpha_*: every alpha) moved."""
    pars = list(model.config.suggested_init())
    for i, (_, _, root) in enumerate(roofit.parameter_names(model)):
        for name, value in values.items():
            if root == name or (name == "alpha_*" and root.startswith("alpha_")):
                pars[i] = value
    return pars


@needs_root
def test_constraints_are_not_normalised_over_a_range():
    """At the parameter bounds ROOT's constraints, normalised over the global
    observables' finite ranges, lose about 1e-6 of their mass; corrected, nothing."""
    model, data = model_and_data()
    points = [model.config.suggested_init(), edge_point(model, **{"alpha_*": 5.0, "Lumi": 1.085})]
    corrected = roofit.build(model, data)
    assert roofit.spread(roofit.nll_differences(corrected, data, points)) < 1e-9
    ranged = roofit.build(model, data, corrections=roofit.CORRECTIONS - {"unbounded_global_observables"})
    assert roofit.spread(roofit.nll_differences(ranged, data, points)) > 5e-7


@needs_root
def test_a_negative_sample_is_not_clipped_unless_pyhf_clips_it():
    workspace = spec()
    signal = workspace["channels"][0]["samples"][0]
    signal["modifiers"].append(mod("histosys", "sig_shape", {"hi_data": [4.0, 6.5, 2.5],
                                                            "lo_data": [1.0, 5.5, 1.5]}))
    model, data = model_and_data(workspace)
    # alpha = -2.5: the signal's first bin is 3 - 2.5 * 2 = -2 events, the bin total stays positive.
    points = [model.config.suggested_init(), edge_point(model, alpha_sig_shape=-2.5)]
    assert roofit.spread(roofit.nll_differences(roofit.build(model, data), data, points)) < 1e-9
    clipping = roofit.build(model, data, corrections=roofit.CORRECTIONS - {"no_sample_clipping"})
    assert roofit.spread(roofit.nll_differences(clipping, data, points)) > 1e-3
    clipped_model, _ = model_and_data(workspace, clip_sample_data=0.0)
    clipped = roofit.build(clipped_model, data)
    assert roofit.spread(roofit.nll_differences(clipped, data, points)) < 1e-9


@needs_root
def test_a_negative_normsys_factor_is_where_the_likelihoods_part():
    """A code4 normsys with an extreme down variation (compressed-sleptons' EG_RESOLUTION_ALL
    on Zttjets: lo 230.5, hi 0.998) has a negative polynomial factor just above alpha 0;
    pyhf uses it, ROOT floors it, so the two likelihoods differ there and only there (which
    is why random_points leaves such points out)."""
    workspace = spec()
    workspace["channels"][0]["samples"].append(
        sample("small", [0.5, 0.4, 0.3], mod("normsys", "extreme", {"hi": 0.998, "lo": 230.5})))
    model, data = model_and_data(workspace)
    inside = edge_point(model, alpha_extreme=0.086)
    factors = model.main_model.modifiers_appliers["normsys"].apply(inside)
    assert float(factors.min()) < -6  # the small sample is negative there, every bin is not
    assert min(model.expected_actualdata(inside)) > 0
    root = roofit.build(model, data)
    usual = [model.config.suggested_init(), edge_point(model, alpha_extreme=-1.5),
             edge_point(model, alpha_extreme=1.5)]
    differences = roofit.nll_differences(root, data, usual + [inside])
    assert roofit.spread(differences[:3]) < 1e-9
    assert abs(differences[3] - differences[0]) > 0.1
    assert roofit._admissible(model, inside, data, float("inf")) is None


@needs_root
def test_fixed_parameters_and_auxdata_carry_over():
    workspace = spec()
    workspace["measurements"][0]["config"]["parameters"][0]["fixed"] = True
    model, data = model_and_data(workspace)
    data = list(data)
    data[-1] += 0.5  # a shifted auxiliary measurement (last aux entry) must reach ROOT too
    root = roofit.build(model, data)
    assert root.var("Lumi").isConstant()
    points, _ = roofit.random_points(model, data, count=10, seed=2)
    assert all(p[model.config.par_slice("lumi")][0] == 1.0 for p in points)
    assert roofit.spread(roofit.nll_differences(root, data, points)) < 1e-6


@needs_root
def test_fit_and_cls_agree_with_pyhf():
    model, data = model_and_data()
    root = roofit.build(model, data)
    result = roofit.fit(root)
    bestfit, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    assert result.status in (0, 1)
    assert max(abs(a - b) for a, b in zip(result.bestfit, bestfit)) < 0.02
    # Minuit stops at an estimated distance to the minimum of 1e-3 in -ln L (tolerance 1).
    at_root = -2 * float(model.logpdf(result.bestfit, data)[0])
    assert abs(at_root - float(twice_nll)) < 5e-3
    tight = roofit.fit(root, tolerance=1e-3)
    assert -2 * float(model.logpdf(tight.bestfit, data)[0]) - float(twice_nll) < 1e-4
    cls_obs, cls_exp = roofit.hypotest(root)
    expected = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected=True)
    assert cls_obs == pytest.approx(float(expected[0]), abs=2e-3)
    assert cls_exp == pytest.approx(float(expected[1]), abs=2e-3)


@needs_root
def test_clip_sample_data_zero_turns_roots_clipping_on():
    model, data = model_and_data(clip_sample_data=0.0)
    root = roofit.build(model, data)
    interps = [arg for arg in root.workspace.components() if arg.InheritsFrom("PiecewiseInterpolation")]
    assert interps and all(interp.positiveDefinite() for interp in interps)
    unclipped = roofit.build(*model_and_data())
    assert not any(arg.positiveDefinite() for arg in unclipped.workspace.components()
                   if arg.InheritsFrom("PiecewiseInterpolation"))


def test_unknown_corrections_are_an_error():
    model, data = model_and_data()
    with pytest.raises(ValueError, match="unknown corrections"):
        roofit.build(model, data, corrections={"lumi"})
