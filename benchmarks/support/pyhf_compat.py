"""Everything this suite knows about how pyhf differs between commits.

asv runs the same benchmarks against every pyhf commit in history, so each
API or backend difference is answered here and nowhere else. Where a feature
does not exist at the commit under test, the helpers raise
``NotImplementedError`` (asv shows the benchmark as skipped, n/a), never an
error that asv would record as a failure.

Differences known and handled:

* pytorch backend: removed from pyhf ``main`` by PR #2611 (2025).
* tensorflow backend: removed from pyhf ``main`` by PR #2609 (2025).
  Both are detected by the absence of the backend module, not by version,
  so a fork or a revert is handled too.
* ``hypotest(..., qtilde=True)`` became ``test_stat="qtilde"`` in v0.6.0.
* The default interpolation codes changed in v0.6.0; benchmarks always pass
  the published settings (normsys code4, histosys code4p) explicitly.
* v0.7.0 to v0.7.2 call ``np.product``, removed in NumPy 2: they need the
  ``legacy`` environment (numpy<2) of ``scripts/asvconf``.
* ``calctype="toybased"`` up to v0.7.6 calls ``np.percentile(...,
  interpolation=...)``, removed in NumPy 2.
* The jax backend up to v0.7.5 does ``from jax.config import config``, a
  module JAX removed in 0.4.25 (v0.7.6 imports ``jax.config`` the new way).
  Detected in the backend's source, so a patched old commit is handled too.
"""

import importlib.util
import re
from pathlib import Path

#: The tensor backends pyhf has had, and the libraries each one needs.
BACKEND_LIBRARIES = {
    "numpy": ("numpy",),
    "jax": ("jax", "jaxlib"),
    "pytorch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow_probability"),
}

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

FIRST_TEST_STAT_KEYWORD = (0, 6, 0)
FIRST_NUMPY2_RELEASE = (0, 7, 3)
LAST_TOYS_BROKEN_UNDER_NUMPY2 = (0, 7, 6)


def release_tuple(version):
    """(major, minor, micro) of a version string; dev builds count as the next release.

    ``0.7.7.dev12+g1234`` is a commit after v0.7.6, so it compares as (0, 7, 7).
    """
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(version))
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(part or 0) for part in match.groups())


def pyhf_release():
    import pyhf

    return release_tuple(pyhf.__version__)


def numpy_major():
    import numpy

    return release_tuple(numpy.__version__)[0]


def require_pyhf_runs_here():
    """Refuse commits that cannot run in this environment (NumPy 2 cut-off), and fail
    (not skip) where pyhf's version is unknown, since every skip here depends on it."""
    import pyhf

    if str(pyhf.__version__).startswith("0.1.dev"):
        # hatch-vcs's version when no release tag is reachable from the commit, e.g. in
        # asv's clone of a repository whose tags moved (scripts/main-job refreshes them).
        raise RuntimeError(
            f"pyhf reports version {pyhf.__version__}: it was built from a git clone with no "
            "release tag reachable from the commit, so which backends and APIs it has is "
            "unknown; fetch the tags into asv's clone (git fetch --force --tags)")
    if numpy_major() >= 2 and pyhf_release() < FIRST_NUMPY2_RELEASE:
        raise NotImplementedError(
            f"pyhf {pyhf.__version__} calls np.product, which NumPy 2 removed; "
            "benchmark it in the legacy environment (scripts/asvconf --matrix legacy)"
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
        raise NotImplementedError(
            BACKEND_REMOVALS.get(backend, f"this pyhf commit has no {backend} backend")
        )
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


def require_toys():
    import numpy
    import pyhf

    if numpy_major() >= 2 and pyhf_release() <= LAST_TOYS_BROKEN_UNDER_NUMPY2:
        raise NotImplementedError(
            f"toy-based tests in pyhf {pyhf.__version__} call np.percentile(interpolation=), "
            f"removed in NumPy {numpy.__version__}; use the legacy environment"
        )


def test_stat_kwargs(test_stat="qtilde"):
    """Keyword arguments that select the test statistic at this commit."""
    if pyhf_release() >= FIRST_TEST_STAT_KEYWORD:
        return {"test_stat": test_stat}
    if test_stat not in ("q", "qtilde"):
        raise NotImplementedError(f"test statistic {test_stat!r} needs pyhf >= 0.6.0")
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
