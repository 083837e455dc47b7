"""The one module that knows how pyhf differs between commits."""

import importlib.util

import pyhf
import pytest

from benchmarks.support import pyhf_compat


@pytest.mark.parametrize(
    "version, expected",
    [("0.7.6", (0, 7, 6)), ("0.7.7.dev12+g1234abc", (0, 7, 7)), ("0.6", (0, 6, 0)), ("1.0.0rc1", (1, 0, 0))],
)
def test_release_tuple(version, expected):
    assert pyhf_compat.release_tuple(version) == expected


def test_release_tuple_refuses_garbage():
    with pytest.raises(ValueError, match="not a version"):
        pyhf_compat.release_tuple("main")


def hide_module(monkeypatch, hidden):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == hidden else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_removed_backend_is_a_skip_that_names_the_pyhf_pr(monkeypatch):
    hide_module(monkeypatch, "pyhf.tensor.pytorch_backend")
    with pytest.raises(NotImplementedError, match="#2611"):
        pyhf_compat.require_backend("pytorch")
    pyhf_compat.require_backend("numpy")


def test_missing_library_is_a_skip_that_names_the_library(monkeypatch):
    hide_module(monkeypatch, "tensorflow_probability")
    with pytest.raises(NotImplementedError, match="tensorflow_probability"):
        pyhf_compat.require_backend("tensorflow")


def test_unknown_backend_is_an_error_not_a_skip():
    with pytest.raises(ValueError, match="unknown backend 'cupy'"):
        pyhf_compat.require_backend("cupy")


def test_releases_before_numpy2_support_are_refused_under_numpy2(monkeypatch):
    monkeypatch.setattr(pyhf, "__version__", "0.7.2")
    with pytest.raises(NotImplementedError, match="legacy"):
        pyhf_compat.require_backend("numpy")


def test_a_pyhf_built_without_its_release_tags_fails_rather_than_skips(monkeypatch):
    # hatch-vcs's fallback version: a skip decided on it would hide a broken build.
    monkeypatch.setattr(pyhf, "__version__", "0.1.dev2")
    with pytest.raises(RuntimeError, match="no release tag reachable"):
        pyhf_compat.require_backend("numpy")


def test_toys_are_refused_where_pyhf_calls_percentile_interpolation(monkeypatch):
    monkeypatch.setattr(pyhf, "__version__", "0.7.6")
    with pytest.raises(NotImplementedError, match="percentile"):
        pyhf_compat.require_toys()
    monkeypatch.setattr(pyhf, "__version__", "0.7.7.dev3")
    pyhf_compat.require_toys()


def test_test_stat_keyword_follows_the_v0_6_0_rename(monkeypatch):
    assert pyhf_compat.test_stat_kwargs("qtilde") == {"test_stat": "qtilde"}
    monkeypatch.setattr(pyhf, "__version__", "0.5.4")
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


def test_jax_backend_importing_the_removed_jax_config_module_is_a_skip(monkeypatch, tmp_path):
    # pyhf v0.7.5's jax backend, as published, against the JAX installed here.
    old_backend = tmp_path / "jax_backend.py"
    old_backend.write_text("from jax.config import config\n\nconfig.update('jax_enable_x64', True)\n")
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "pyhf.tensor.jax_backend":
            return importlib.util.spec_from_file_location(name, old_backend)
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(pyhf, "__version__", "0.7.5")
    with pytest.raises(NotImplementedError, match="jax.config module, removed in JAX 0.4.25"):
        pyhf_compat.require_backend("jax")


def test_current_jax_backend_passes_the_jax_config_check():
    pyhf_compat.require_backend("jax")
