"""The offline-node path end to end on CPU: wheels built from pyhf's real history (v0.7.6 and
main's tip), then benchmarked in per-commit environments layered over a CPU-only "host" (the
shared host environment), recorded as ordinary asv results for those commits."""

import json
import sys
from pathlib import Path

import pytest

from pyhfbench import offline_node, wheelhouse
from pyhfbench import results as resultslib

REPO_ROOT = Path(__file__).resolve().parents[1]
MACHINE = "offline-node-test-cpu"
BASELINE = "bench_baseline.HypotestUncorrelatedBackground.track_cls_obs"


@pytest.mark.slow
def test_wheelhouse_records_each_commit_with_its_wheel_and_version(built_wheelhouse, pyhf_history):
    dest, manifest = built_wheelhouse
    by_revision = {entry["revision"]: entry for entry in manifest["pyhf"]}
    assert by_revision["v0.7.6"]["version"] == "0.7.6"
    assert by_revision["main"]["version"].startswith("0.7.1.dev")  # tags present: not 0.1.devN
    for revision, entry in by_revision.items():
        assert entry["commit"] == wheelhouse.git(pyhf_history, "rev-parse", f"{revision}^{{commit}}")
        assert wheelhouse.sha256_of(dest / entry["wheel"]) == entry["sha256"]
    assert json.loads((dest / wheelhouse.MANIFEST).read_text()) == manifest
    wheelhouse.verify(dest)
    # The repository carries just these commits, so asv can date them offline.
    repo = dest / manifest["repository"]
    assert int(wheelhouse.git(repo, "log", "-1", "--format=%ct", by_revision["main"]["commit"])) \
        == by_revision["main"]["date"]
    # A tampered wheel is refused.
    wheel = dest / by_revision["main"]["wheel"]
    original = wheel.read_bytes()
    try:
        wheel.write_bytes(original + b"x")
        with pytest.raises(wheelhouse.WheelhouseError, match="sha256"):
            wheelhouse.verify(dest)
    finally:
        wheel.write_bytes(original)


@pytest.mark.slow
def test_offline_node_benchmarks_each_wheel_as_its_commit(built_wheelhouse, tmp_path):
    dest, manifest = built_wheelhouse
    results_dir = tmp_path / "results"
    selection = [rf"{BASELINE}\('(numpy|pytorch)', 'cpu', 1\)"]
    statuses, trouble = offline_node.run_node(
        dest, tmp_path / "node", results_dir, MACHINE, host_python=sys.executable,
        bench=selection, machine_file=tmp_path / "machine.json", log=lambda m: None)
    assert trouble == []
    assert set(statuses) == {entry["commit"] for entry in manifest["pyhf"]}
    assert all(status == 0 for status in statuses.values())
    stored = {c.commit: c for c in resultslib.load_machine(results_dir, MACHINE)}
    by_revision = {entry["revision"]: entry["commit"] for entry in manifest["pyhf"]}
    assert set(stored) == set(by_revision.values())
    for revision, commit in by_revision.items():
        values = {m.params: m for m in stored[commit].measurements.values() if m.benchmark == BASELINE}
        numpy = values[("'numpy'", "'cpu'", "1")]
        torch = values[("'pytorch'", "'cpu'", "1")]
        assert numpy.state == resultslib.OK and 0 < numpy.value < 1
        # pytorch: the host's torch at v0.7.6; removed from pyhf on main (PR #2611).
        assert torch.state == (resultslib.OK if revision == "v0.7.6" else resultslib.SKIPPED)
    reasons = resultslib.load_skip_reasons(results_dir, MACHINE)
    main_torch = [r for (commit, _, cls, params), r in reasons.items()
                  if commit == by_revision["main"] and params == ("'pytorch'", "'cpu'", "1")]
    assert main_torch and main_torch[0].kind == "removed" and "PR #2611" in main_torch[0].reason


def test_unknown_revision_is_refused_with_what_the_wheelhouse_holds():
    manifest = {"pyhf": [{"revision": "v0.7.6", "commit": "b500270c" + "0" * 32}]}
    assert offline_node.select_entries(manifest, ["b500270c"]) == manifest["pyhf"]
    with pytest.raises(offline_node.NodeError, match=r"v0\.7\.6 \(b500270c\)"):
        offline_node.select_entries(manifest, ["main"])


def test_a_repository_without_tags_is_refused(tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    commit = wheelhouse.git(repo, "rev-parse", "HEAD")
    with pytest.raises(wheelhouse.WheelhouseError, match="no release tags"):
        wheelhouse.require_tags(repo, commit)
    assert wheelhouse.resolve_revisions(repo, ["HEAD", commit]) == [("HEAD", commit)]


def test_existing_env_name_is_asvs():
    from asv.environment import ExistingEnvironment

    assert offline_node.existing_env_name(sys.executable).startswith("existing-py_")
    env = ExistingEnvironment.__new__(ExistingEnvironment)
    env._executable, env._tagged_env_vars = sys.executable, {}
    assert ExistingEnvironment.name.fget(env) == offline_node.existing_env_name(sys.executable)


def test_committed_config_is_read_without_asv():
    from pyhfbench import asvconf

    assert offline_node.committed_config() == asvconf.load_committed_config()


@pytest.mark.slow
def test_support_wheels_the_host_lacks_are_installed_into_the_commit_env(built_wheelhouse, tmp_path):
    """The --support path: a wheel the host lacks goes into the env; the host stays as it was."""
    import shutil
    import subprocess

    dest, manifest = built_wheelhouse
    house = tmp_path / "wh"
    shutil.copytree(dest, house)
    project = tmp_path / "probe"
    (project / "pyhf_bench_probe").mkdir(parents=True)
    (project / "pyhf_bench_probe" / "__init__.py").write_text("VALUE = 7\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "pyhf-bench-probe"\nversion = "1.0"\n')
    support = house / wheelhouse.SUPPORT_FOLDER
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(support), str(project)], check=True)
    wheel = next(support.glob("pyhf_bench_probe-*.whl"))
    manifest = dict(manifest, support=[{"wheel": f"{wheelhouse.SUPPORT_FOLDER}/{wheel.name}",
                                        "sha256": wheelhouse.sha256_of(wheel)}])
    entry = next(e for e in manifest["pyhf"] if e["revision"] == "main")
    python = offline_node.create_commit_env(sys.executable, tmp_path / "env", house, entry, manifest)
    out = subprocess.run([str(python), "-c", "import pyhf, pyhf_bench_probe, numpy; "
                          "print(pyhf.__version__, pyhf_bench_probe.VALUE)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [entry["version"], "7"]
    host = subprocess.run([sys.executable, "-c", "import importlib.util, pyhf; print("
                           "importlib.util.find_spec('pyhf_bench_probe') is None, pyhf.__version__)"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert host[0] == "True" and host[1] != entry["version"]  # the host's own pyhf, untouched
