"""The committed asv configuration and the configurations derived from it."""

import json

import pytest

from pyhfbench import asvconf


@pytest.fixture(scope="module")
def committed():
    return asvconf.load_committed_config()


def test_committed_config_measures_pyhf_main_from_github(committed):
    assert committed["repo"] == "https://github.com/scikit-hep/pyhf.git"
    assert committed["branches"] == ["main", "release/v0.7.x"]
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


def _git(repo, *args):
    import subprocess

    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


def test_a_working_tree_is_read_through_a_bare_mirror_kept_up_to_date(tmp_path):
    # pyhf's tag `binder` is also its folder binder/: in a work tree `git rev-list -n 1 binder`
    # is ambiguous and asv publish fails, in a bare mirror it is not.
    import subprocess

    work = tmp_path / "pyhf"
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(work)], check=True)
    (work / "binder").mkdir()
    (work / "binder" / "postBuild").write_text("x\n")
    _git(work, "add", "binder")
    _git(work, "commit", "--quiet", "-m", "one")
    _git(work, "tag", "binder")
    mirror = asvconf.asv_repository(work, mirrors_dir=tmp_path / "mirrors")
    assert _git(mirror, "rev-parse", "--is-bare-repository") == "true"
    assert _git(mirror, "rev-list", "-n", "1", "binder") == _git(work, "rev-parse", "HEAD")
    _git(work, "commit", "--quiet", "--allow-empty", "-m", "two")
    assert asvconf.asv_repository(work, mirrors_dir=tmp_path / "mirrors") == mirror
    assert _git(mirror, "rev-parse", "main") == _git(work, "rev-parse", "HEAD")
    assert asvconf.asv_repository(mirror) == mirror  # bare: used as it is
    # It has no release/v0.7.x: asv would refuse the committed branch it cannot find.
    assert asvconf.derive_config(repo=mirror)["branches"] == ["main"]
    _git(work, "branch", "release/v0.7.x")
    assert asvconf.derive_config(repo=work)["branches"] == ["main", "release/v0.7.x"]
    url = "https://github.com/someone/pyhf.git"
    assert asvconf.asv_repository(url) == url


def test_an_unreadable_repository_is_named_in_the_error(tmp_path):
    broken = tmp_path / "broken"
    (broken / ".git").mkdir(parents=True)
    with pytest.raises(asvconf.RepositoryError, match=str(broken)):
        asvconf.asv_repository(broken, mirrors_dir=tmp_path / "mirrors")


def test_the_html_dir_symlink_is_kept_not_resolved(tmp_path):
    target = tmp_path / ".html.versions" / "20260101"
    target.mkdir(parents=True)
    (tmp_path / "html").symlink_to(target)
    config = asvconf.derive_config(html_dir=str(tmp_path / "html"))
    assert config["html_dir"] == str(tmp_path / "html")


def test_the_pallet_mirror_defaults_to_the_local_stand_in(tmp_path, monkeypatch):
    environ = {}
    monkeypatch.setattr(asvconf, "LOCAL_PALLET_MIRROR", tmp_path)
    assert asvconf.select_pallet_mirror(environ=environ) == str(tmp_path)
    assert environ[asvconf.PALLET_MIRROR_ENV] == str(tmp_path)
    assert asvconf.select_pallet_mirror("/elsewhere", environ={}) == "/elsewhere"
    monkeypatch.setattr(asvconf, "LOCAL_PALLET_MIRROR", tmp_path / "absent")
    assert asvconf.select_pallet_mirror(environ={}) is None


@pytest.mark.slow
def test_the_legacy_preset_resolves_to_numpy_1(tmp_path):
    # asv installs the matrix one requirement at a time with --upgrade; each must keep NumPy 1.
    import subprocess
    import sys

    requirements = [name if not version else f"{name}=={version}"
                    for name, (version,) in asvconf.MATRIX_PRESETS["legacy"].items()
                    if not name.startswith("pip+")]
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                    "--report", str(report), *requirements], check=True, capture_output=True)
    installed = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                 for item in json.loads(report.read_text())["install"]}
    assert installed["numpy"] == "1.26.4", installed
    # jax 0.4.23 calls scipy.linalg.tril, which scipy 1.13 removed.
    assert tuple(int(x) for x in installed["scipy"].split(".")[:2]) < (1, 13), installed
    legacy = asvconf.MATRIX_PRESETS["legacy"]
    for name in ("iminuit", "matplotlib", "ml_dtypes"):
        assert legacy[name] != [""], f"{name} unpinned pulls NumPy 2"
    # asv installs the requirements one at a time in this order: jax would bring ml_dtypes 0.7.
    order = list(legacy)
    assert order.index("numpy") < order.index("ml_dtypes") < order.index("jax")
