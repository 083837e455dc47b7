"""The calls the instruction-count lane counts, and the time_ benchmark each one matches.

Each ``prepare_*`` function does everything that is not counted (backend,
model build, data) and returns the zero-argument call that is: the same call
the matching time_ benchmark times. ``callgrind.child`` calls it once to warm
up, then once counted. ``WORKLOADS`` names each workload with its matching
time_ benchmark and parameters, which the gate shows beside an instruction
finding (plain data: the gate reads it without importing pyhf).
"""

from . import backends, pallets, pyhf_compat, threads

#: The pallets the hypotest, fit and logpdf workloads run on.
LIKELIHOODS = ["sbottom/RegionB", "staus"]
INTERPOLATION_CODES = ["0", "1", "2", "4", "4p"]
BASELINE_BINS = [1, 10, 50]
BATCHED_LIKELIHOOD = "generated/medium"
BATCH_SIZE = 100

#: workload -> (time_ benchmark, its parameters after backend and device)
WORKLOADS = {}
#: No hypotest on a pallet (2026-12-03): the sbottom hypotest counted 5.6 G instructions, four
#: of its fits (the fit workload counts one, 1.3 G), and was the lane's costliest valgrind child
#: (125 s of CPU); the hypotest's own code (calculator, test statistic, Asimov data, fixed-POI
#: fits) is counted by the baseline hypotests, sbottom's model by its fit, logpdf and build.
#: Its time stays in bench_hypotest (docs/suite-cost.md, "Combinations removed").
#: The fit is counted on sbottom only: the staus fit counted 5.96 G instructions, 82 % of its
#: class's count and a third of the lane's (the class's valgrind child took 259 s of the lane's
#: 624 s, docs/suite-cost.md); it runs the same fit code as sbottom's (1.30 G), staus's model
#: is counted in its logpdf and build, and its fit is timed in bench_fit.
FIT_LIKELIHOODS = ["sbottom/RegionB"]
for _likelihood in FIT_LIKELIHOODS:
    WORKLOADS[f"fit {_likelihood}"] = (
        "bench_fit.MaximumLikelihoodFit.time_unconditional_fit", ["scipy", _likelihood])
for _likelihood in LIKELIHOODS:
    WORKLOADS[f"logpdf {_likelihood}"] = ("bench_model.Logpdf.time_logpdf", [_likelihood])
    WORKLOADS[f"build_model {_likelihood}"] = (
        "bench_model.BuildModel.time_build_model", [_likelihood])
WORKLOADS[f"batched_logpdf {BATCHED_LIKELIHOOD} x{BATCH_SIZE}"] = (
    "bench_model.BatchedLogpdf.time_batched_logpdf", ["64b", BATCH_SIZE])
for _code in INTERPOLATION_CODES:
    WORKLOADS[f"interpolation code {_code}"] = (
        "bench_interpolation.Interpolation.time_tensorized", [_code, "medium"])
for _bins in BASELINE_BINS:
    WORKLOADS[f"baseline hypotest {_bins} bins"] = (
        "bench_baseline.HypotestUncorrelatedBackground.time_hypotest", [_bins])


def _activate(backend):
    backends.reuse_compilations(backend)  # the warm-up call compiles less under valgrind
    tensorlib = backends.activate(backend, "cpu")
    threads.limit_threads(threads.configured_threads())
    return tensorlib


def _waiting(backend, function):
    return lambda: backends.wait_for_device(backend, function())


def _signal_model(backend, likelihood):
    tensorlib = _activate(backend)
    model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
    return tensorlib, model, tensorlib.astensor(data)


def prepare_fit(backend, likelihood, fixed_poi=None):
    _, model, data = _signal_model(backend, likelihood)
    return _waiting(backend, lambda: pyhf_compat.fit_with_details(data, model, fixed_poi)[0])


def prepare_logpdf(backend, likelihood):
    tensorlib, model, data = _signal_model(backend, likelihood)
    pars = tensorlib.astensor(model.config.suggested_init())
    return _waiting(backend, lambda: model.logpdf(pars, data))


def prepare_batched_logpdf(backend, likelihood, batch_size):
    tensorlib = _activate(backend)
    model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood),
                                     batch_size=batch_size)
    data = tensorlib.astensor(data)
    pars = tensorlib.astensor([model.config.suggested_init()] * batch_size)
    return _waiting(backend, lambda: model.logpdf(pars, data))


def prepare_build_model(backend, likelihood):
    _activate(backend)
    workspace = pallets.load_workspace(likelihood)
    patch = pallets.load_patch(likelihood, pallets.signal_patch(likelihood))
    return lambda: pyhf_compat.model_from_workspace(workspace, [patch])


def prepare_interpolation(backend, code, size="medium"):
    from ..bench_interpolation import interpolation_code, interpolation_problem

    tensorlib = _activate(backend)
    histogramssets, alphasets = interpolation_problem(size)
    alphasets = tensorlib.astensor(alphasets)
    interpolator = pyhf_compat.interpolator(interpolation_code(code))(
        histogramssets, subscribe=False)
    return _waiting(backend, lambda: interpolator(alphasets))


def prepare_baseline_hypotest(backend, n_bins):
    import pyhf

    tensorlib = _activate(backend)
    model = pyhf_compat.uncorrelated_background([30.0] * n_bins, [100.0] * n_bins,
                                                [10.0] * n_bins)
    data = tensorlib.astensor([120.0] * n_bins + model.config.auxdata)
    kwargs = pyhf_compat.test_stat_kwargs("qtilde")
    init, bounds = model.config.suggested_init(), model.config.suggested_bounds()
    return _waiting(backend, lambda: pyhf.infer.hypotest(
        1.0, data, model, init, bounds, return_tail_probs=True, return_expected=True,
        return_expected_set=True, **kwargs))


def prepare_python_loop(iterations):
    """A pure-Python call of known size: the lane's own check (twice the loop, twice the count)."""
    return lambda: sum(i * i for i in range(iterations))


def spec(backend, workload):
    """[prepare function name, *arguments] of a workload named in WORKLOADS."""
    kind, _, rest = workload.partition(" ")
    if kind in ("logpdf", "build_model", "fit"):
        return [f"prepare_{kind}", backend, rest]
    if kind == "batched_logpdf":
        return ["prepare_batched_logpdf", backend, BATCHED_LIKELIHOOD, BATCH_SIZE]
    if kind == "interpolation":
        return ["prepare_interpolation", backend, rest.split()[-1]]
    if kind == "baseline":
        return ["prepare_baseline_hypotest", backend, int(rest.split()[1])]
    raise KeyError(f"unknown workload {workload!r}")
