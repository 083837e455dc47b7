"""The same likelihood in ROOT: a pyhf model as a RooFit/HistFactory workspace.

``build(model, data)`` turns a pyhf ``Model`` (a background-only workspace
plus a signal patch, as ``pallets.load_model`` makes it) and its data into a
ROOT ``RooWorkspace`` with a ``ModelConfig``, built through HistFactory's own
classes (``Measurement``, ``Channel``, ``Sample``,
``HistoToWorkspaceFactoryFast::MakeCombinedModel``) in memory: the PyPI
wheel of ROOT (``pip install root``, ROOT 6.40) has no XML support, so
neither ``hist2workspace`` nor ``ConfigParser`` on ``pyhf json2xml`` output
is available, and ``RooJSONFactoryWSTool`` reads only ROOT's own HS3 JSON.

Built naively, ROOT's model is not pyhf's. The corrections in
``CORRECTIONS`` (all on by default; each explained where it is applied) make
the two negative log-likelihoods the same function of the parameters up to a
constant; ``tests/test_roofit_likelihood.py`` checks that at random
parameter points on the real pallets. What a correction cannot make equal is
refused with ``UnsupportedModel`` and the reason (shapefactor, a staterror
shared by several channels, ...), never built as a different model.

Parameters keep pyhf's order: ``RootModel.names[i]`` is the ROOT variable of
pyhf parameter ``i`` (``alpha_<name>`` for normsys and histosys, ``Lumi``,
``gamma_stat_<channel>_bin_<k>`` for staterror, ``gamma_<name>_bin_<k>`` for
shapesys, the pyhf name for normfactors), with pyhf's bounds, initial values
and fixed flags.

Host-only (``scripts/root-compare`` and the tests use it; no asv preset has
ROOT): ROOT is imported only inside functions here, through
``import_root()``, which raises NotImplementedError where it is missing.
"""

import dataclasses
import importlib.util
import math
import time

#: Why a benchmark or test that needs ROOT is skipped.
NO_ROOT = "ROOT is not installed in this environment"

#: The corrections that make ROOT's likelihood equal to pyhf's (see ``build``).
CORRECTIONS = frozenset({
    "lumi_only_where_declared",   # drop Lumi from samples without a pyhf lumi modifier
    "unbounded_global_observables",  # constraint terms not normalised over a finite range
    "interpolation_codes",        # pyhf code4 / code4p in ROOT's numbering
    "no_sample_clipping",         # ROOT's positive-definite clipping off (pyhf's default)
    "staterror_as_pyhf",          # Gaussian staterror, no pruning threshold
})

#: pyhf interpolation code -> ROOT 6.40 code (FlexibleInterpVar for normsys,
#: PiecewiseInterpolation for histosys). ROOT 6.40 renumbered its codes: its
#: default for normsys, 5, is pyhf's code4 (polynomial inside |alpha| < 1,
#: exponential outside) and its histosys default, 4, is pyhf's code4p
#: (polynomial inside, linear outside). Other codes are refused rather than guessed.
NORMSYS_CODES = {"code4": 5}
HISTOSYS_CODES = {"code4p": 4}

MODIFIER_TYPES = ("normfactor", "lumi", "normsys", "histosys", "staterror", "shapesys")


class UnsupportedModel(ValueError):
    """The pyhf model uses something this converter cannot reproduce in ROOT exactly."""


def root_available():
    """Whether ROOT can be imported here (without importing it)."""
    return importlib.util.find_spec("ROOT") is not None


_ROOT = None


def import_root():
    """ROOT, imported once, quiet (RooFit and HistFactory chatter off); NotImplementedError if absent."""
    global _ROOT
    if _ROOT is not None:
        return _ROOT
    if not root_available():
        raise NotImplementedError(NO_ROOT)
    import warnings

    with warnings.catch_warnings():
        # The PyPI wheel warns on import that it is an alpha distribution.
        warnings.simplefilter("ignore")
        import ROOT
    ROOT.gROOT.SetBatch(True)
    ROOT.gErrorIgnoreLevel = ROOT.kError
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
    ROOT.TH1.AddDirectory(False)
    _ROOT = ROOT
    return ROOT


def root_version():
    return import_root().gROOT.GetVersion()


# --- what pyhf's model says ------------------------------------------------------------------

def _modifier_settings(model):
    settings = getattr(model.config, "modifier_settings", None) or {}
    return (settings.get("normsys", {}).get("interpcode", "code4"),
            settings.get("histosys", {}).get("interpcode", "code4p"))


def parameter_names(model):
    """[(pyhf parameter name, index within it, ROOT variable name)] in pyhf's parameter order."""
    kinds = {}
    for channel in model.spec["channels"]:
        for sample in channel["samples"]:
            for modifier in sample["modifiers"]:
                kinds.setdefault(modifier["name"], set()).add((modifier["type"], channel["name"]))
    names = [None] * model.config.npars
    for par in model.config.par_order:
        where = model.config.par_slice(par)
        types = {kind for kind, _ in kinds.get(par, ())}
        for k, index in enumerate(range(where.start, where.stop)):
            if types & {"normsys", "histosys"}:
                root = f"alpha_{par}"
            elif "lumi" in types:
                root = "Lumi"
            elif "staterror" in types:
                (channel,) = {ch for kind, ch in kinds[par]}
                root = f"gamma_stat_{channel}_bin_{k}"
            elif "shapesys" in types:
                root = f"gamma_{par}_bin_{k}"
            else:
                root = par
            names[index] = (par, k, root)
    return names


def check_supported(model, corrections=CORRECTIONS):
    """Raise UnsupportedModel, naming the modifier and why, for what ``build`` cannot reproduce."""
    problems = []
    normsys_code, histosys_code = _modifier_settings(model)
    if "interpolation_codes" in corrections:
        if normsys_code not in NORMSYS_CODES:
            problems.append(f"normsys interpolation {normsys_code} (supported: {', '.join(NORMSYS_CODES)})")
        if histosys_code not in HISTOSYS_CODES:
            problems.append(f"histosys interpolation {histosys_code} (supported: {', '.join(HISTOSYS_CODES)})")
    main = getattr(model, "main_model", None)
    if getattr(main, "clip_bin_data", None) is not None:
        problems.append("clip_bin_data (ROOT has no per-bin clipping of the total yield)")
    if getattr(main, "clip_sample_data", None) not in (None, 0.0):
        problems.append(f"clip_sample_data={main.clip_sample_data} (only None or 0.0 have a ROOT equivalent)")
    if model.config.poi_name is None:
        problems.append("a model without a POI (HistFactory needs one; pass a signal patch)")
    staterror_channels, types_of = {}, {}
    for channel in model.spec["channels"]:
        cname = channel["name"]
        names_here = set()
        for sample in channel["samples"]:
            for modifier in sample["modifiers"]:
                kind, name = modifier["type"], modifier["name"]
                types_of.setdefault(name, set()).add(kind)
                where = f"{kind} {name!r} on sample {sample['name']!r} in channel {cname!r}"
                if kind not in MODIFIER_TYPES:
                    problems.append(f"{where}: modifier type {kind!r} is not converted "
                                    f"(supported: {', '.join(MODIFIER_TYPES)})")
                elif kind == "staterror":
                    names_here.add(name)
                    staterror_channels.setdefault(name, set()).add(cname)
                    for k, (nominal, error) in enumerate(zip(sample["data"], modifier["data"])):
                        if nominal <= 0 and error != 0:
                            problems.append(f"{where}: bin {k} has uncertainty {error} on a yield of "
                                            f"{nominal} (ROOT takes relative errors)")
                elif kind == "shapesys":
                    for k, (nominal, error) in enumerate(zip(sample["data"], modifier["data"])):
                        if nominal <= 0 or error <= 0:
                            problems.append(f"{where}: bin {k} (yield {nominal}, uncertainty {error}) "
                                            "has no Poisson constraint in pyhf; ROOT's would be infinite")
                elif kind == "normsys" and min(modifier["data"]["hi"], modifier["data"]["lo"]) <= 0:
                    problems.append(f"{where}: non-positive hi/lo factor")
        if len(names_here) > 1:
            problems.append(f"channel {cname!r}: several staterror modifiers ({', '.join(sorted(names_here))}); "
                            "ROOT has one per channel")
    for name, channels in staterror_channels.items():
        if len(channels) > 1:
            problems.append(f"staterror {name!r} spans channels {', '.join(sorted(channels))}; "
                            "ROOT makes one per channel")
    for name, kinds in types_of.items():
        if len(kinds) > 1 and kinds != {"normsys", "histosys"}:
            problems.append(f"parameter {name!r} is shared by modifiers {', '.join(sorted(kinds))}")
    sigmas = _staterror_sigmas(model)
    for par, values in sigmas.items():
        zero = [k for k, sigma in enumerate(values) if not sigma > 0]
        if zero:
            problems.append(f"staterror {par!r}: bins {zero} have zero total yield or uncertainty "
                            "(pyhf fixes them; not converted)")
    if problems:
        raise UnsupportedModel("cannot build this pyhf model in ROOT exactly:\n  - " + "\n  - ".join(problems))


def _staterror_sigmas(model):
    """{staterror name: relative uncertainty per bin} as pyhf computes it."""
    out = {}
    for channel in model.spec["channels"]:
        totals, squares, name = None, None, None
        for sample in channel["samples"]:
            for modifier in sample["modifiers"]:
                if modifier["type"] != "staterror":
                    continue
                name = modifier["name"]
                nominal, error = sample["data"], modifier["data"]
                totals = list(nominal) if totals is None else [a + b for a, b in zip(totals, nominal)]
                squares = ([e * e for e in error] if squares is None
                           else [a + e * e for a, e in zip(squares, error)])
        if name is not None:
            out[name] = [math.sqrt(s) / t if t > 0 else 0.0 for s, t in zip(squares, totals)]
    return out


# --- building ------------------------------------------------------------------------------

@dataclasses.dataclass
class RootModel:
    """A ROOT workspace equivalent to a pyhf model, and how their parameters correspond."""

    workspace: object
    model_config: object
    pdf: object
    data: object
    global_observables: object
    names: list          # ROOT variable of each pyhf parameter, in pyhf order
    pyhf_model: object
    build_seconds: float
    _nll: object = None

    def var(self, index_or_name):
        name = self.names[index_or_name] if isinstance(index_or_name, int) else index_or_name
        var = self.workspace.var(name)
        if not var:
            raise KeyError(f"no variable {name!r} in the ROOT workspace")
        return var

    def set_parameters(self, pars):
        """Set every parameter to ``pars`` (pyhf order)."""
        for name, value in zip(self.names, pars):
            self.workspace.var(name).setVal(float(value))

    def get_parameters(self):
        return [self.workspace.var(name).getVal() for name in self.names]

    def reset(self):
        """Parameters back to pyhf's initial values."""
        self.set_parameters(self.pyhf_model.config.suggested_init())

    def nll(self, pars=None):
        """ROOT's negative log-likelihood (no offset) at ``pars`` (pyhf order), or where it is now."""
        ROOT = import_root()
        if self._nll is None:
            self._nll = self.pdf.createNLL(self.data, ROOT.RooFit.GlobalObservables(self.global_observables))
        if pars is not None:
            self.set_parameters(pars)
        return self._nll.getVal()


def _hist(ROOT, name, values):
    """A TH1D with one unit-width bin per value; HistFactory takes ownership of it."""
    hist = ROOT.TH1D(name, name, len(values), 0.0, float(len(values)))
    for k, value in enumerate(values):
        hist.SetBinContent(k + 1, float(value))
    # HistFactory's HistRef deletes the histograms it holds: Python must not delete them too.
    ROOT.SetOwnership(hist, False)
    return hist


def _relative(values, nominal):
    return [e / n if n > 0 else 0.0 for e, n in zip(values, nominal)]


def _measurement(ROOT, model, data, lumi_config, staterror_as_pyhf=True):
    HF = ROOT.RooStats.HistFactory
    measurement = HF.Measurement("pyhf", "converted from pyhf by pyhf-benchmarks")
    measurement.SetPOI(model.config.poi_name)
    if lumi_config is not None:
        aux, sigma = lumi_config
        measurement.SetLumi(aux)
        measurement.SetLumiRelErr(sigma / aux)
    else:
        measurement.SetLumi(1.0)
        measurement.SetLumiRelErr(0.1)
        measurement.AddConstantParam("Lumi")  # no pyhf lumi parameter: keep ROOT's at 1
    observed = {name: data[model.config.channel_slices[name]] for name in model.config.channels}
    for spec in model.spec["channels"]:
        cname = spec["name"]
        channel = HF.Channel(cname)
        if staterror_as_pyhf:
            # pyhf's staterror: a Gaussian constraint on every bin, no pruning threshold
            # (ROOT's defaults: Poisson, and gammas with relative error < 5% fixed).
            channel.SetStatErrorConfig(0.0, "Gaussian")
        channel.SetData(_hist(ROOT, f"data_{cname}", observed[cname]))
        for sspec in spec["samples"]:
            sname, nominal = sspec["name"], sspec["data"]
            sample = HF.Sample(sname)
            sample.SetHisto(_hist(ROOT, f"{cname}_{sname}", nominal))
            sample.SetNormalizeByTheory(any(m["type"] == "lumi" for m in sspec["modifiers"]))
            for modifier in sspec["modifiers"]:
                kind, name, mdata = modifier["type"], modifier["name"], modifier["data"]
                tag = f"{cname}_{sname}_{name}"
                if kind == "normfactor":
                    sample.AddNormFactor(name, 1.0, 0.0, 10.0)  # range and value set from pyhf below
                elif kind == "normsys":
                    sample.AddOverallSys(name, float(mdata["lo"]), float(mdata["hi"]))
                elif kind == "histosys":
                    histosys = HF.HistoSys()
                    histosys.SetName(name)
                    histosys.SetHistoLow(_hist(ROOT, f"{tag}_lo", mdata["lo_data"]))
                    histosys.SetHistoHigh(_hist(ROOT, f"{tag}_hi", mdata["hi_data"]))
                    sample.AddHistoSys(histosys)
                elif kind == "staterror":
                    sample.ActivateStatError()
                    # ROOT wants the relative error; it multiplies it back by the nominal.
                    sample.GetStatError().SetErrorHist(_hist(ROOT, f"{tag}_staterror",
                                                             _relative(mdata, nominal)))
                elif kind == "shapesys":
                    shapesys = HF.ShapeSys()
                    shapesys.SetName(name)
                    shapesys.SetConstraintType(HF.Constraint.Poisson)
                    shapesys.SetErrorHist(_hist(ROOT, f"{tag}_shapesys", _relative(mdata, nominal)))
                    sample.AddShapeSys(shapesys)
                # lumi: SetNormalizeByTheory above, its constraint from the measurement.
            channel.AddSample(sample)
        measurement.AddChannel(channel)
    return measurement


def _lumi_names(model):
    return sorted({m["name"] for channel in model.spec["channels"] for sample in channel["samples"]
                   for m in sample["modifiers"] if m["type"] == "lumi"})


def _lumi_config(model):
    """(auxdata, sigma) of the pyhf lumi parameter (pyhf's schema allows one, named
    "lumi"), or None if no sample has a lumi modifier."""
    names = _lumi_names(model)
    if not names:
        return None
    pset = model.config.param_set(names[0])
    return float(pset.auxdata[0]), float(pset.sigmas[0])


def _objects(workspace, class_name):
    return [arg for arg in workspace.components() if arg.InheritsFrom(class_name)]


def _drop_lumi_where_undeclared(ROOT, workspace, model):
    """ROOT 6.40 multiplies every sample by the floating ``Lumi``, also where
    ``NormalizeByTheory`` is false (it should be a constant there): pyhf scales
    only samples with a ``lumi`` modifier. Redirect the ``Lumi`` term of the
    other samples' ``<sample>_<channel>_scaleFactors`` products to a constant 1."""
    one = ROOT.RooConstVar("one_instead_of_Lumi", "1 for samples without a lumi modifier", 1.0)
    one.setAttribute("ORIGNAME:Lumi")  # redirectServers(nameChange=True) matches on this
    workspace.Import(one, ROOT.RooFit.Silence())
    one = workspace.obj("one_instead_of_Lumi")
    replaced = 0
    for spec in model.spec["channels"]:
        for sample in spec["samples"]:
            if any(m["type"] == "lumi" for m in sample["modifiers"]):
                continue
            product = workspace.function(f"{sample['name']}_{spec['name']}_scaleFactors")
            if not product:
                raise RuntimeError(f"no scale-factor product for sample {sample['name']!r} "
                                   f"in channel {spec['name']!r}: HistFactory's naming changed?")
            if product.dependsOn(workspace.var("Lumi")):
                product.redirectServers(ROOT.RooArgSet(one), False, True)
                replaced += 1
    return replaced


def build(model, data, corrections=CORRECTIONS):
    """A RootModel equivalent to the pyhf ``model`` with ``data`` (observations then auxdata).

    ``corrections``: which of CORRECTIONS to apply (all by default; fewer only to
    show what each one changes). Raises UnsupportedModel for what cannot be
    reproduced, NotImplementedError where ROOT is not installed.
    """
    unknown = set(corrections) - CORRECTIONS
    if unknown:
        raise ValueError(f"unknown corrections {sorted(unknown)}; known: {sorted(CORRECTIONS)}")
    check_supported(model, corrections)
    ROOT = import_root()
    HF = ROOT.RooStats.HistFactory
    data = [float(x) for x in data]
    if len(data) != model.config.nmaindata + model.config.nauxdata:
        raise ValueError(f"data has {len(data)} entries, the model needs "
                         f"{model.config.nmaindata} observations and {model.config.nauxdata} auxdata")
    start = time.perf_counter()
    measurement = _measurement(ROOT, model, data, _lumi_config(model),
                               "staterror_as_pyhf" in corrections)
    configuration = HF.HistoToWorkspaceFactoryFast.Configuration()
    configuration.createWorkspaceFile = False
    workspace = HF.HistoToWorkspaceFactoryFast.MakeCombinedModel(measurement, configuration)
    if not workspace:
        raise RuntimeError("HistFactory did not build a workspace")

    if "lumi_only_where_declared" in corrections:
        _drop_lumi_where_undeclared(ROOT, workspace, model)

    model_config = workspace.obj("ModelConfig")
    globs = workspace.set("ModelConfig_GlobalObservables") or workspace.set("globalObservables")

    if "unbounded_global_observables" in corrections:
        # ROOT normalises every constraint term over its global observable's range
        # (nom_alpha_X in [-10, 10], nominalLumi and nom_gamma_* in finite ranges),
        # which makes the normalisation depend on the parameter near the edges;
        # pyhf's constraints are normalised over the whole real line.
        for glob in globs:
            glob.removeMin()
            glob.removeMax()

    if "interpolation_codes" in corrections:
        normsys_code, histosys_code = _modifier_settings(model)
        for interp in _objects(workspace, "RooStats::HistFactory::FlexibleInterpVar"):
            interp.setAllInterpCodes(NORMSYS_CODES[normsys_code])
        for interp in _objects(workspace, "PiecewiseInterpolation"):
            interp.setAllInterpCodes(HISTOSYS_CODES[histosys_code])

    if "no_sample_clipping" in corrections:
        # ROOT clips each sample's interpolated histogram at zero (positive
        # definite); pyhf clips nothing unless clip_sample_data is given.
        clip = getattr(getattr(model, "main_model", None), "clip_sample_data", None) is not None
        for interp in _objects(workspace, "PiecewiseInterpolation"):
            interp.setPositiveDefinite(clip)

    names = [root for _, _, root in parameter_names(model)]
    bounds = model.config.suggested_bounds()
    inits = model.config.suggested_init()
    fixed = model.config.suggested_fixed()
    for name, (low, high), init, is_fixed in zip(names, bounds, inits, fixed):
        var = workspace.var(name)
        if not var:
            raise RuntimeError(f"HistFactory made no variable {name!r} for a pyhf parameter")
        var.setRange(float(low), float(high))
        var.setVal(float(init))
        var.setConstant(bool(is_fixed))
    _set_global_observables(workspace, model, data, names)
    model_config.SetSnapshot(ROOT.RooArgSet(workspace.var(model.config.poi_name)))
    root_model = RootModel(
        workspace=workspace, model_config=model_config, pdf=model_config.GetPdf(),
        data=workspace.data("obsData"), global_observables=ROOT.RooArgSet(globs),
        names=names, pyhf_model=model, build_seconds=time.perf_counter() - start,
    )
    return root_model


def _set_global_observables(workspace, model, data, names):
    """Global observables at pyhf's auxdata (so Asimov or toy auxdata carry over)."""
    aux = data[model.config.nmaindata:]
    offset = 0
    for par in model.config.auxdata_order:
        pset = model.config.param_set(par)
        n = len(pset.auxdata)
        where = model.config.par_slice(par)
        for k in range(n):
            root = names[where.start + k]
            glob_name = "nominalLumi" if root == "Lumi" else f"nom_{root}"
            glob = workspace.var(glob_name)
            if not glob:
                raise RuntimeError(f"no global observable {glob_name!r} for {par}[{k}]")
            glob.setVal(aux[offset + k])
        offset += n


# --- fitting and testing in ROOT ----------------------------------------------------------

@dataclasses.dataclass
class RootFit:
    bestfit: list        # pyhf order
    nll: float           # ROOT's minimum NLL (ROOT's constant, not pyhf's)
    status: int
    edm: float
    seconds: float


def fit(root_model, fixed_poi=None, strategy=1, tolerance=None, offset=True):
    """Unconditional (or fixed-POI) MLE with Minuit2 Migrad, from pyhf's initial values."""
    ROOT = import_root()
    root_model.reset()
    poi = root_model.workspace.var(root_model.pyhf_model.config.poi_name)
    if fixed_poi is not None:
        poi.setVal(float(fixed_poi))
        poi.setConstant(True)
    start = time.perf_counter()
    options = [ROOT.RooFit.GlobalObservables(root_model.global_observables)]
    if offset:
        options.append(ROOT.RooFit.Offset("initial"))
    nll = root_model.pdf.createNLL(root_model.data, *options)
    minimizer = ROOT.RooMinimizer(nll)
    minimizer.setPrintLevel(-1)
    minimizer.setStrategy(strategy)
    if tolerance is not None:
        minimizer.setEps(tolerance)
    status = minimizer.minimize("Minuit2", "Migrad")
    seconds = time.perf_counter() - start
    result = minimizer.save()
    bestfit = root_model.get_parameters()
    value = root_model.nll()  # un-offset value at the minimum
    if fixed_poi is not None:
        poi.setConstant(False)
    return RootFit(bestfit=bestfit, nll=value, status=int(status), edm=float(result.edm()),
                   seconds=seconds)


def prepare_for_tests(root_model):
    """One unconditional fit, so that Minuit's first step sizes in the tests that follow are
    the fit's parameter errors, as after the fit a ROOT user makes before testing. From a
    fresh build's step sizes (normfactors 0, gammas their constraint width) RooStats'
    Asimov fits on compressed-sleptons end where they started: q_A = 0, CLs = 1."""
    fit(root_model)  # hypotest resets the values; the errors (step sizes) stay
    return root_model


def hypotest(root_model, poi_value=1.0):
    """Asymptotic CLs at ``poi_value`` with the one-sided, bounded test statistic
    (RooStats' qtilde, as pyhf's ``test_stat="qtilde"``): (CLs_obs, CLs_exp median)."""
    ROOT = import_root()
    RS = ROOT.RooStats
    root_model.reset()
    workspace = root_model.workspace
    poi = workspace.var(root_model.pyhf_model.config.poi_name)
    sb_model = root_model.model_config.Clone("sb_model")
    b_model = root_model.model_config.Clone("b_model")
    ROOT.SetOwnership(sb_model, True)
    ROOT.SetOwnership(b_model, True)
    poi.setVal(float(poi_value))
    sb_model.SetSnapshot(ROOT.RooArgSet(poi))
    poi.setVal(0.0)
    b_model.SetSnapshot(ROOT.RooArgSet(poi))
    poi.setVal(float(poi_value))
    RS.AsymptoticCalculator.SetPrintLevel(-1)
    ROOT.Math.MinimizerOptions.SetDefaultMinimizer("Minuit2", "Migrad")
    ROOT.Math.MinimizerOptions.SetDefaultStrategy(1)
    ROOT.Math.MinimizerOptions.SetDefaultPrintLevel(-1)
    calculator = RS.AsymptoticCalculator(root_model.data, b_model, sb_model)
    calculator.SetOneSided(True)
    calculator.SetQTilde(True)
    result = calculator.GetHypoTest()
    # The asymptotic result holds p_null = CLs+b and, as its "alternate p-value",
    # CLb = Phi(sqrt(q_A) - sqrt(q)) itself (not 1 - CLb, which HypoTestResult::CLs()
    # assumes unless told that the background is the alternate): CLs = p_null / CLb.
    p_null, cl_b = result.NullPValue(), result.AlternatePValue()
    if not cl_b > 0:
        raise RuntimeError(f"RooStats' asymptotic test failed (CLs+b {p_null}, CLb {cl_b})")
    if p_null < 0.5 and abs(cl_b - p_null) <= 1e-9 * p_null:
        # CLb = Phi(sqrt(q_A) - sqrt(q)) equal to CLs+b = Phi(-sqrt(q)) means q_A = 0: the
        # fits to the Asimov data ended at the same point. Seen on compressed-sleptons from
        # a fresh build's step sizes (CLs = 1); prepare_for_tests avoids it.
        raise RuntimeError(f"RooStats' asymptotic test failed: q_A = 0 (CLb {cl_b:.4g} equals "
                           f"CLs+b), so CLs would read 1; fit the model first (prepare_for_tests)")
    expected = RS.AsymptoticCalculator.GetExpectedPValues(p_null, cl_b, 0.0, True)
    return float(p_null / cl_b), float(expected)


# --- checking that the two likelihoods are the same function -----------------------------

def _admissible(model, pars, data, nll_limit):
    """Whether pyhf's likelihood is defined and moderate at ``pars``: every bin's expected
    yield positive, every sample's normsys product positive (a code4 polynomial can dip
    below zero for extreme hi/lo factors; pyhf lets it, ROOT floors it at the smallest
    double, so both give nonsense there), and -ln L below ``nll_limit``."""
    import numpy

    if numpy.any(numpy.asarray(model.expected_actualdata(pars)) <= 0):
        return None
    appliers = getattr(getattr(model, "main_model", None), "modifiers_appliers", {})
    normsys = appliers.get("normsys")
    if normsys is not None:
        factors = normsys.apply(numpy.asarray(pars))
        if factors is not None and numpy.any(numpy.prod(factors, axis=0) <= 0):
            return None
    nll = -float(model.logpdf(pars, data)[0])
    return nll if numpy.isfinite(nll) and nll < nll_limit else None


def random_points(model, data, count=20, seed=0, max_nll_rise=1e4, sigmas=2.0):
    """``count`` parameter points (pyhf order) around pyhf's initial values where the
    likelihood is defined: constrained parameters moved by up to ``sigmas`` widths,
    free ones by up to 50%, fixed ones kept; a move that leaves the admissible
    region (see ``_admissible``) is halved, up to 8 times, before it is dropped.
    Returns (points, number of dropped moves). Needs pyhf's NumPy backend."""
    import random

    rng = random.Random(seed)
    config = model.config
    init = [float(x) for x in config.suggested_init()]
    bounds = config.suggested_bounds()
    fixed = config.suggested_fixed()
    limit = -float(model.logpdf(init, data)[0]) + max_nll_rise
    widths = [None] * config.npars
    for par in config.par_order:
        pset = config.param_set(par)
        where = config.par_slice(par)
        if getattr(pset, "pdf_type", None) in ("normal", "poisson"):
            for k, width in enumerate(pset.width()):
                widths[where.start + k] = float(width)
    points, dropped = [], 0
    while len(points) < count:
        move = [0.0 if fixed[i] else
                (rng.uniform(-sigmas, sigmas) * widths[i] if widths[i] is not None
                 else rng.uniform(-0.5, 0.5) * (abs(init[i]) or 1.0))
                for i in range(config.npars)]
        for _ in range(8):
            pars = [min(max(x + dx, lo), hi) for x, dx, (lo, hi) in zip(init, move, bounds)]
            if _admissible(model, pars, data, limit) is not None:
                points.append(pars)
                break
            move = [dx / 2 for dx in move]
        else:
            dropped += 1
        if dropped > 20 * count:
            raise RuntimeError(f"found only {len(points)} admissible points in {dropped} tries")
    return points, dropped


def nll_differences(root_model, data, points):
    """ROOT's NLL minus pyhf's at each point: constant if the likelihoods are the same function."""
    model = root_model.pyhf_model
    return [root_model.nll(pars) + float(model.logpdf(pars, data)[0]) for pars in points]


def spread(differences):
    """Largest minus smallest difference; infinite if one is not a number (never a silent NaN)."""
    if not differences or not all(math.isfinite(d) for d in differences):
        return math.inf
    return max(differences) - min(differences)
