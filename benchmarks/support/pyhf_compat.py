"""Everything this suite knows about how pyhf differs between commits.

asv runs the same benchmarks against every pyhf commit in history, so each
API or backend difference is answered here and nowhere else, by what the code
under test has (a module, a keyword, a call into a removed library API), never
by its version number: pyhf's releases v0.7.1 to v0.7.6 sit on
``release/v0.7.x``, so hatch-vcs versions ``main`` 0.7.1.devN whatever it holds.
Where a feature does not exist at the commit under test, the helpers raise
``NotImplementedError`` (asv shows the benchmark as skipped, n/a), never an
error that asv would record as a failure. ``RemovedFromPyhf`` marks the one
kind of skip that is an expected change between commits (the gate lets it
pass); every other skip appearing where there was a measurement is a finding.

Differences known and handled:

* pytorch backend: removed from pyhf ``main`` by PR #2611 (2025).
* tensorflow backend: removed from pyhf ``main`` by PR #2609 (2025).
  Both are detected by the absence of the backend module.
* ``hypotest(..., qtilde=True)`` became ``test_stat="qtilde"`` in v0.6.0:
  detected in the calculators' signature.
* The default interpolation codes changed in v0.6.0; benchmarks always pass
  the published settings (normsys code4, histosys code4p) explicitly.
* Up to v0.7.2 and on ``main`` before a25f196 (PR #2242), pyhf calls
  ``np.product``, removed in NumPy 2: found in pyhf's source.
* ``calctype="toybased"`` needs the backend's ``percentile``; up to v0.7.6
  (and on ``main`` before 2e4b9304 for JAX) it passes ``interpolation=``,
  which NumPy 2 and recent JAX removed: found by calling it.
* The jax backend up to v0.7.5 does ``from jax.config import config``, a
  module JAX removed in 0.4.25, and up to v0.7.2 (main before 8d3bd07) uses
  ``jnp.DeviceArray``, removed in JAX 0.4.14: both found in the backend's source.
"""

import importlib.util
import inspect
import re
from collections import namedtuple
from pathlib import Path

#: What a backend of pyhf needs: the modules it imports, the pip packages that provide them.
Backend = namedtuple("Backend", ["modules", "packages"])

#: The tensor backends pyhf has had, in the order the suite and its reports show them: the
#: one list of them (backends.py, preimport.py, the host's report and suite-cost tools derive
#: theirs from it). ``modules``: what pyhf's backend module imports (asv's forkserver imports
#: them ahead); ``packages``: the distributions an environment must hold (its requirements).
BACKEND_TABLE = {
    "numpy": Backend(modules=("numpy",), packages=("numpy",)),
    "jax": Backend(modules=("jax", "jax.numpy"), packages=("jax", "jaxlib")),
    "pytorch": Backend(modules=("torch",), packages=("torch",)),
    "tensorflow": Backend(modules=("tensorflow", "tensorflow_probability"),
                          packages=("tensorflow", "tensorflow-probability")),
}
BACKENDS = tuple(BACKEND_TABLE)


def import_name(package):
    """The top-level module a package of the table installs (``tensorflow-probability``:
    ``tensorflow_probability``)."""
    return package.replace("-", "_")


#: The libraries each backend needs installed, by import name: looked up (never imported)
#: before a backend is used, so that a missing one is a skip with its name.
BACKEND_LIBRARIES = {name: tuple(import_name(p) for p in backend.packages)
                     for name, backend in BACKEND_TABLE.items()}

#: Why a backend module can be missing from a pyhf commit.
BACKEND_REMOVALS = {
    "pytorch": "pyhf removed the pytorch backend (scikit-hep/pyhf PR #2611)",
    "tensorflow": "pyhf removed the tensorflow backend (scikit-hep/pyhf PR #2609)",
}

#: Interpolation used by the published pallet scans and pyhf's own tests.
PUBLISHED_MODIFIER_SETTINGS = {
    "normsys": {"interpcode": "code4"},
    "histosys": {"interpcode": "code4p"},
}

#: Interpolation codes pyhf implements, tensorized and as slow references.
INTERPOLATION_CODES = (0, 1, 2, 4, "4p")


#: A call of ``np.product`` (NumPy 2 removed it) in pyhf's source; the host reads commits
#: with it through git to run them in the legacy environment.
NUMPY_PRODUCT_CALL = r"\bnp\.product\("
#: Where pyhf's backends live in its repository (src layout since 2019).
BACKEND_MODULES_PATHSPEC = "src/pyhf/tensor/*_backend.py"


class RemovedFromPyhf(NotImplementedError):
    """A skip because pyhf itself removed the feature at this commit: an expected change."""

    kind = "removed"


def skip_kind(error):
    """``removed`` for a removal by pyhf, ``unavailable`` for every other skip."""
    return getattr(error, "kind", "unavailable")


def _pyhf_sources():
    import pyhf

    return sorted(Path(pyhf.__file__).parent.rglob("*.py"))


def calls_removed_numpy_product():
    """Whether this pyhf calls ``np.product``, which NumPy 2 removed, where it is missing."""
    import numpy

    if hasattr(numpy, "product"):
        return False
    return any(re.search(NUMPY_PRODUCT_CALL, path.read_text()) for path in _pyhf_sources())


def require_pyhf_runs_here():
    """Refuse pyhf commits whose code calls a NumPy API the installed NumPy removed."""
    import numpy
    import pyhf

    if calls_removed_numpy_product():
        raise NotImplementedError(
            f"this pyhf ({pyhf.__version__}) calls np.product, which NumPy {numpy.__version__} "
            "removed; benchmark it in the legacy environment (scripts/asvconf --matrix legacy)"
        )


def backend_module_exists(backend):
    """Whether the pyhf commit under test ships this backend at all."""
    return importlib.util.find_spec(f"pyhf.tensor.{backend}_backend") is not None


def missing_libraries(backend):
    return [
        lib for lib in BACKEND_LIBRARIES[backend] if importlib.util.find_spec(lib) is None
    ]


def require_backend(backend):
    """Raise NotImplementedError, with the reason, if ``backend`` cannot run here."""
    if backend not in BACKEND_LIBRARIES:
        raise ValueError(
            f"unknown backend {backend!r}; known: {', '.join(BACKEND_LIBRARIES)}"
        )
    require_pyhf_runs_here()
    if not backend_module_exists(backend):
        if backend in BACKEND_REMOVALS:
            raise RemovedFromPyhf(BACKEND_REMOVALS[backend])
        raise NotImplementedError(f"this pyhf commit has no {backend} backend")
    missing = missing_libraries(backend)
    if missing:
        raise NotImplementedError(
            f"{backend} backend needs {', '.join(missing)}, not installed in this environment"
        )
    if backend == "jax":
        require_jax_config_module_if_imported()


def require_jax_config_module_if_imported():
    """Refuse pyhf commits whose jax backend imports the ``jax.config`` module JAX removed."""
    import pyhf

    source = Path(importlib.util.find_spec("pyhf.tensor.jax_backend").origin).read_text()
    if "from jax.config import" in source and importlib.util.find_spec("jax.config") is None:
        import jax

        raise NotImplementedError(
            f"pyhf {pyhf.__version__}'s jax backend imports the jax.config module, removed in "
            f"JAX 0.4.25 (installed: {jax.__version__}); use the legacy environment"
        )
    try:
        importlib.import_module("pyhf.tensor.jax_backend")
    except AttributeError as err:  # up to v0.7.2: jnp.DeviceArray, unguarded
        if "DeviceArray" not in str(err):
            raise
        import jax

        raise NotImplementedError(
            f"pyhf {pyhf.__version__}'s jax backend uses jax.numpy.DeviceArray, removed in "
            f"JAX 0.4.14 (installed: {jax.__version__}; pyhf moved to jax.Array in 8d3bd07)"
        ) from None


def require_toys():
    """Refuse toys where the active backend's ``percentile`` passes a keyword its library removed."""
    import pyhf

    tensorlib = pyhf.tensorlib
    percentile = getattr(tensorlib, "percentile", None)
    if percentile is None:
        raise NotImplementedError(f"this pyhf's {tensorlib.name} backend has no percentile")
    try:
        percentile(tensorlib.astensor([1.0, 2.0, 3.0]), 50.0)
    except TypeError as err:
        if "interpolation" not in str(err):
            raise
        raise NotImplementedError(
            f"toy-based tests in this pyhf ({pyhf.__version__}) call {tensorlib.name}'s "
            "percentile(interpolation=), a keyword its installed version no longer takes; "
            "use the legacy environment"
        ) from None


def takes_test_stat_keyword():
    """Whether the calculators take ``test_stat=`` (v0.6.0 on) rather than ``qtilde=``."""
    import pyhf.infer.calculators

    signature = inspect.signature(pyhf.infer.calculators.AsymptoticCalculator.__init__)
    return "test_stat" in signature.parameters


def test_stat_kwargs(test_stat="qtilde"):
    """Keyword arguments that select the test statistic at this commit."""
    if takes_test_stat_keyword():
        return {"test_stat": test_stat}
    if test_stat not in ("q", "qtilde"):
        raise NotImplementedError(f"test statistic {test_stat!r} needs pyhf's test_stat keyword "
                                  "(v0.6.0 and later)")
    return {"qtilde": test_stat == "qtilde"}


def interpolator(code, tensorized=True):
    """pyhf's interpolator class for ``code``; the slow pure-Python one if not ``tensorized``."""
    import pyhf.interpolators

    return pyhf.interpolators.get(code, do_tensorized_calc=tensorized)


def fit_with_details(data, model, fixed_poi=None):
    """MLE fit returning (best-fit pars, twice NLL, function evaluations or None).

    ``fixed_poi`` gives a fixed-POI fit. The number of evaluations comes from the
    optimizer's result object where this pyhf returns one.
    """
    import pyhf

    kwargs = dict(return_fitted_val=True, return_result_obj=True)
    if fixed_poi is None:
        result = pyhf.infer.mle.fit(data, model, **kwargs)
    else:
        result = pyhf.infer.mle.fixed_poi_fit(fixed_poi, data, model, **kwargs)
    bestfit, twice_nll, result_obj = result
    return bestfit, twice_nll, function_evaluations(result_obj)


def function_evaluations(result_obj):
    nfev = getattr(result_obj, "nfev", None)
    if nfev is None and getattr(result_obj, "minuit", None) is not None:
        nfev = result_obj.minuit.nfcn
    return None if nfev is None else int(nfev)


def model_from_workspace(workspace, patches=(), **config_kwargs):
    """A model with the published interpolation settings, whatever this pyhf's defaults."""
    config_kwargs.setdefault("modifier_settings", PUBLISHED_MODIFIER_SETTINGS)
    return workspace.model(patches=list(patches), **config_kwargs)


def uncorrelated_background(signal, background, uncertainty):
    """pyhf's simple model; named ``hepdata_like`` before v0.6.0."""
    import pyhf.simplemodels

    make = getattr(pyhf.simplemodels, "uncorrelated_background", None)
    if make is None:
        make = pyhf.simplemodels.hepdata_like
    return make(signal, background, uncertainty)
