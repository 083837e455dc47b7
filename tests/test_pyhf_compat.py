"""The one module that knows how pyhf differs between commits."""

import importlib.util

import pyhf
import pytest

from benchmarks.support import pyhf_compat


def hide_module(monkeypatch, hidden):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == hidden else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_removed_backend_is_a_skip_that_names_the_pyhf_pr(monkeypatch):
    hide_module(monkeypatch, "pyhf.tensor.pytorch_backend")
    with pytest.raises(NotImplementedError, match="#2611") as raised:
        pyhf_compat.require_backend("pytorch")
    assert pyhf_compat.skip_kind(raised.value) == "removed"
    pyhf_compat.require_backend("numpy")


def test_missing_library_is_a_skip_that_names_the_library(monkeypatch):
    hide_module(monkeypatch, "tensorflow_probability")
    with pytest.raises(NotImplementedError, match="tensorflow_probability"):
        pyhf_compat.require_backend("tensorflow")


def test_unknown_backend_is_an_error_not_a_skip():
    with pytest.raises(ValueError, match="unknown backend 'cupy'"):
        pyhf_compat.require_backend("cupy")


def fake_pyhf_source(monkeypatch, tmp_path, text):
    """pyhf's package source as one file holding ``text``, for the source checks."""
    source = tmp_path / "numpy_backend.py"
    source.write_text(text)
    monkeypatch.setattr(pyhf_compat, "_pyhf_sources", lambda: [source])


def test_a_pyhf_calling_np_product_is_refused_under_numpy2(monkeypatch, tmp_path):
    # v0.7.2 and main before PR #2242, whatever version hatch-vcs gives them.
    fake_pyhf_source(monkeypatch, tmp_path, "        return np.product(tensor_in, axis=axis)\n")
    with pytest.raises(NotImplementedError, match="calls np.product.*legacy") as raised:
        pyhf_compat.require_backend("numpy")
    assert pyhf_compat.skip_kind(raised.value) == "unavailable"


def test_the_version_number_decides_nothing(monkeypatch):
    # pyhf main as hatch-vcs versions it (its release tags are on release/v0.7.x).
    monkeypatch.setattr(pyhf, "__version__", "0.7.1.dev398+gb3dc4bb2")
    pyhf_compat.require_backend("numpy")
    assert pyhf_compat.test_stat_kwargs("qtilde") == {"test_stat": "qtilde"}
    monkeypatch.setattr(pyhf, "__version__", "0.1.dev2")
    pyhf_compat.require_backend("numpy")


def test_np_product_in_a_comment_or_np_prod_is_not_a_call(monkeypatch, tmp_path):
    fake_pyhf_source(monkeypatch, tmp_path, "# np.product_of_sums\nreturn np.prod(x)\n")
    pyhf_compat.require_backend("numpy")


def test_toys_are_refused_where_the_backend_passes_percentile_interpolation(monkeypatch):
    # pyhf up to v0.7.6 passes interpolation=, which NumPy 2 removed.
    from benchmarks.support import backends

    backends.activate("numpy", "cpu")

    def old_percentile(self, tensor_in, q, axis=None, interpolation="linear"):
        import numpy

        return numpy.percentile(tensor_in, q, axis=axis, interpolation=interpolation)

    monkeypatch.setattr(type(pyhf.tensorlib), "percentile", old_percentile)
    with pytest.raises(NotImplementedError, match="percentile\\(interpolation=\\)"):
        pyhf_compat.require_toys()


def test_toys_run_where_the_backend_percentile_works(monkeypatch):
    from benchmarks.support import backends

    backends.activate("numpy", "cpu")
    monkeypatch.setattr(type(pyhf.tensorlib), "percentile", lambda self, tensor_in, q, axis=None: 2.0)
    pyhf_compat.require_toys()


def test_a_percentile_error_of_another_kind_is_not_a_skip(monkeypatch):
    from benchmarks.support import backends

    backends.activate("numpy", "cpu")

    def broken(self, tensor_in, q, axis=None):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(type(pyhf.tensorlib), "percentile", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        pyhf_compat.require_toys()


def test_test_stat_keyword_follows_the_calculators_signature(monkeypatch):
    assert pyhf_compat.test_stat_kwargs("qtilde") == {"test_stat": "qtilde"}

    class OldCalculator:  # pyhf v0.5's signature
        def __init__(self, data, pdf, init_pars=None, par_bounds=None, fixed_params=None,
                     qtilde=False):
            pass

    monkeypatch.setattr(pyhf.infer.calculators, "AsymptoticCalculator", OldCalculator)
    assert pyhf_compat.test_stat_kwargs("qtilde") == {"qtilde": True}
    assert pyhf_compat.test_stat_kwargs("q") == {"qtilde": False}
    with pytest.raises(NotImplementedError):
        pyhf_compat.test_stat_kwargs("q0")


def test_interpolator_gives_tensorized_and_reference_implementations():
    assert pyhf_compat.interpolator("4p").__name__ == "code4p"
    assert pyhf_compat.interpolator(0, tensorized=False).__name__ == "_slow_code0"


@pytest.mark.parametrize("optimizer", ["scipy", "minuit"])
def test_fit_with_details_reports_twice_nll_and_evaluations(optimizer):
    from benchmarks.support import backends

    backends.activate("numpy", "cpu", optimizer=optimizer)
    model = pyhf_compat.uncorrelated_background([5.0, 6.0], [50.0, 52.0], [5.0, 6.0])
    data = [51.0, 48.0] + model.config.auxdata
    bestfit, twice_nll, nfev = pyhf_compat.fit_with_details(data, model)
    assert len(bestfit) == len(model.config.suggested_init())
    assert float(twice_nll) == pytest.approx(
        float(-2 * model.logpdf(bestfit, data)[0]), rel=1e-6
    )
    assert isinstance(nfev, int) and nfev > 0
    fixed, fixed_twice_nll, _ = pyhf_compat.fit_with_details(data, model, fixed_poi=1.0)
    assert float(fixed[model.config.poi_index]) == 1.0
    assert float(fixed_twice_nll) >= float(twice_nll) - 1e-6


def test_models_use_the_published_interpolation_codes():
    workspace = pyhf.Workspace(
        {
            "channels": [{"name": "c", "samples": [{"name": "s", "data": [5.0], "modifiers": [
                {"name": "mu", "type": "normfactor", "data": None}]}]}],
            "observations": [{"name": "c", "data": [5.0]}],
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
            "version": "1.0.0",
        }
    )
    model = pyhf_compat.model_from_workspace(workspace)
    assert model.config.modifier_settings == pyhf_compat.PUBLISHED_MODIFIER_SETTINGS


def fake_jax_backend(monkeypatch, tmp_path, source):
    """pyhf's jax backend as ``source`` (an old commit's), found and imported in its place."""
    import importlib as importlib_module

    old_backend = tmp_path / "jax_backend.py"
    old_backend.write_text(source)
    real_find_spec, real_import = importlib.util.find_spec, importlib_module.import_module

    def find_spec(name, *args):
        if name == "pyhf.tensor.jax_backend":
            return importlib.util.spec_from_file_location(name, old_backend)
        return real_find_spec(name, *args)

    def import_module(name, *args, **kwargs):
        if name != "pyhf.tensor.jax_backend":
            return real_import(name, *args, **kwargs)
        module = importlib.util.module_from_spec(find_spec(name))
        module.__spec__.loader.exec_module(module)
        return module

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(importlib_module, "import_module", import_module)


def test_jax_backend_importing_the_removed_jax_config_module_is_a_skip(monkeypatch, tmp_path):
    # pyhf v0.7.5's jax backend, as published, against the JAX installed here.
    fake_jax_backend(monkeypatch, tmp_path,
                     "from jax.config import config\n\nconfig.update('jax_enable_x64', True)\n")
    with pytest.raises(NotImplementedError, match="jax.config module, removed in JAX 0.4.25"):
        pyhf_compat.require_backend("jax")


def test_current_jax_backend_passes_the_jax_checks():
    pyhf_compat.require_backend("jax")


def test_jax_backend_using_the_removed_device_array_is_a_skip(monkeypatch, tmp_path):
    # pyhf v0.7.2's jax backend, against the JAX installed here (jax.Array since 0.4.14).
    fake_jax_backend(monkeypatch, tmp_path,
                     "import jax.numpy as jnp\n\narray_type = jnp.DeviceArray\n")
    with pytest.raises(NotImplementedError, match="jax.numpy.DeviceArray, removed in JAX 0.4.14"):
        pyhf_compat.require_backend("jax")
