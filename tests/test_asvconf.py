"""The committed asv configuration and the configurations derived from it."""

import json

import pytest

from pyhfbench import asvconf


@pytest.fixture(scope="module")
def committed():
    return asvconf.load_committed_config()


def test_committed_config_measures_pyhf_main_from_github(committed):
    assert committed["repo"] == "https://github.com/scikit-hep/pyhf.git"
    assert committed["branches"] == ["main"]
    assert committed["environment_type"] == "virtualenv"
    assert committed["launch_method"] == "spawn"  # CUDA cannot start in a forked process
    assert (committed["results_dir"], committed["html_dir"]) == ("results", "html")


def test_build_command_builds_only_pyhfs_wheel(committed):
    (command,) = committed["build_command"]
    assert "pip wheel" in command and "--no-deps" in command


def test_no_requirement_pulls_cuda_torch_on_cpu_machines(committed):
    assert committed["matrix"]["req"]["torch"] == ["2.13.0"]
    for name in ("jax", "jaxlib", "tensorflow", "tensorflow-probability", "tf-keras", "iminuit"):
        assert name in committed["matrix"]["req"]


def test_derived_config_points_at_another_repository_with_absolute_paths(tmp_path, committed):
    derived = asvconf.derive_config(repo=str(tmp_path), branches=["dev"], matrix="numpy")
    assert derived["repo"] == str(tmp_path.resolve())
    assert derived["branches"] == ["dev"]
    assert "torch" not in derived["matrix"]["req"]
    for key in ("benchmark_dir", "env_dir", "results_dir", "html_dir"):
        assert derived[key].startswith("/")
    assert derived["build_command"] == committed["build_command"]


def test_remote_repository_urls_are_kept_as_they_are():
    derived = asvconf.derive_config(repo="https://example.org/fork/pyhf.git")
    assert derived["repo"] == "https://example.org/fork/pyhf.git"


def test_unknown_matrix_preset_is_refused():
    with pytest.raises(ValueError, match="unknown matrix preset 'gpu'"):
        asvconf.derive_config(matrix="gpu")


def test_command_line_writes_a_config_asv_can_read(tmp_path, capsys):
    from asv.config import Config

    dest = tmp_path / "asv.json"
    assert asvconf.main(["--repo", str(tmp_path), "--matrix", "legacy", "--output", str(dest)]) == 0
    assert json.loads(dest.read_text())["matrix"]["req"]["numpy"] == ["1.26.4"]
    conf = Config.load(str(dest))
    assert conf.repo == str(tmp_path.resolve())
