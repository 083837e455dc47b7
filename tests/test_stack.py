"""Stacks: pinned from a file or resolved, recorded inside the environment with every result,
told apart by the gate, and compared by the upstream lane (fast: no asv run, no registry)."""

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.support import provenance
from helpers.gate_results import (MACHINE, TIME, TRACK, ResultsWriter, good_values,
                                  samples_around)
from pyhfbench import asvconf, gate, results
from pyhfbench import stack as stacklib
from pyhfbench import upstream

REPO_ROOT = Path(__file__).resolve().parents[1]
NUMPY_REQ = asvconf.matrix_requirements("numpy")
OLD_ENV = "virtualenv-py3.11-jax0.9.2-jaxlib0.9.2-numpy2.4.6"
NEW_ENV = "virtualenv-py3.11-jax0.10.2-jaxlib0.10.2-numpy2.4.6"
JAX_CHANGE = [("jax", "0.9.2", "0.10.2"), ("jaxlib", "0.9.2", "0.10.2")]


def no_registry(*args, **kwargs):
    raise AssertionError("a fully pinned stack must not ask the registry")


def write(path, text):
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- stack files


def test_a_stack_file_gives_the_python_and_the_pins(tmp_path):
    path = write(tmp_path / "old.txt", "# night 1\npython==3.12\njax==0.9.2\nJAXlib == 0.9.2  # pair\n\n")
    assert stacklib.read_stack_file(path) == ("3.12", {"jax": "0.9.2", "jaxlib": "0.9.2"})


@pytest.mark.parametrize("line", ["jax>=0.9", "jax==", "python==3", "just words"])
def test_a_malformed_stack_line_is_named_with_its_file_and_line(tmp_path, line):
    path = write(tmp_path / "bad.txt", f"numpy==2.4.6\n{line}\n")
    with pytest.raises(stacklib.StackError, match=r"bad\.txt:2: "):
        stacklib.read_stack_file(path)


def test_a_missing_stack_file_is_named(tmp_path):
    with pytest.raises(stacklib.StackError, match="nowhere.txt"):
        stacklib.read_stack_file(tmp_path / "nowhere.txt")


# --------------------------------------------------------------------------- pinning


def test_a_pinned_stack_asks_no_registry_and_names_its_environment(tmp_path):
    pins = {"numpy": "2.4.5", "scipy": "1.17.1", "iminuit": "2.33.0"}
    stack = stacklib.make_stack(NUMPY_REQ, "3.11", pins, runner=no_registry)
    assert stack.versions == pins
    config = asvconf.derive_config(matrix="numpy", stack=stack, launch_method=None)
    assert config["pythons"] == ["3.11"]
    req = config["matrix"]["req"]
    assert (req["numpy"], req["scipy"], req["iminuit"]) == (["2.4.5"], ["1.17.1"], ["2.33.0"])
    from asv.environment import get_env_name

    name = get_env_name("virtualenv", "3.11", {k: v[0] for k, v in req.items()
                                                if not k.startswith("pip+")}, {})
    assert "numpy2.4.5" in name and "scipy1.17.1" in name


def test_packages_the_file_leaves_out_are_resolved_with_the_stacks_python():
    calls = []

    def pip(command, **kwargs):
        calls.append(command)
        report = {"install": [{"metadata": {"name": n, "version": v}} for n, v in
                              (("numpy", "2.5.5"), ("SciPy", "1.18.1"), ("iminuit", "2.33.0"),
                               ("psutil", "7.0.0"))]}
        return subprocess.CompletedProcess(command, 0, json.dumps(report), "")

    stack = stacklib.make_stack(NUMPY_REQ, "3.13", {"numpy": "2.5.5"}, python_exe="/py3.13",
                                runner=pip)
    assert stack.versions == {"numpy": "2.5.5", "scipy": "1.18.1", "iminuit": "2.33.0"}
    command = calls[0]
    assert command[:4] == ["/py3.13", "-m", "pip", "install"] and "--dry-run" in command
    assert "numpy==2.5.5" in command and "scipy" in command


def test_a_registry_that_cannot_resolve_is_named():
    def pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution "
                                           "found for jax==0.0.1")

    with pytest.raises(stacklib.StackError, match="No matching distribution"):
        stacklib.make_stack(asvconf.matrix_requirements("current"), "3.13", {"jax": "0.0.1"},
                            python_exe="/py", runner=pip)


def test_a_pin_of_a_package_the_environment_does_not_install_is_refused():
    with pytest.raises(stacklib.StackError, match="torch"):
        stacklib.make_stack(NUMPY_REQ, "3.11", {"torch": "2.13.0"}, source="old.txt",
                            runner=no_registry)


def test_the_newest_python_that_pyhf_supports_is_the_default():
    installed = {"3.11": "/a", "3.12": "/b", "3.13": "/c"}
    assert stacklib.newest_python(installed, {"3.10", "3.11", "3.12"}) == "3.12"
    assert stacklib.newest_python(installed, set()) == "3.13"
    with pytest.raises(stacklib.StackError, match="3.9"):
        stacklib.newest_python({"3.9": "/x"}, {"3.11"})


def test_the_python_a_stack_file_names_must_be_installed(tmp_path):
    path = write(tmp_path / "s.txt", "python==3.99\nnumpy==2.4.6\n")
    with pytest.raises(stacklib.StackError, match="Python 3.99.*not installed"):
        stacklib.choose(NUMPY_REQ, path, installed={"3.11": sys.executable}, runner=no_registry)


def test_a_stack_change_is_told_package_by_package_with_released_together_ones_grouped():
    old = stacklib.Stack("3.11", (("jax", "0.9.2"), ("jaxlib", "0.9.2"), ("numpy", "2.4.6")))
    new = stacklib.Stack("3.13", (("jax", "0.12.1"), ("jaxlib", "0.12.1"), ("numpy", "2.5.5")))
    assert old != new and old == stacklib.Stack.from_json(old.to_json())
    groups = dict(stacklib.changed_groups(old, new))
    assert set(groups) == {("python",), ("jax", "jaxlib"), ("numpy",)}
    assert stacklib.describe_changes(groups[("jax", "jaxlib")]) == \
        "jax 0.9.2 -> 0.12.1, jaxlib 0.9.2 -> 0.12.1"


# --------------------------------------------------------------------------- provenance


def record_in_a_process(results_dir, commit, env_name, python=sys.executable):
    env = dict(os.environ, ASV_COMMIT=commit, ASV_ENV_NAME=env_name,
               PYHF_BENCH_RESULTS_DIR=str(results_dir), PYHF_BENCH_MACHINE=MACHINE,
               PYTHONPATH=str(REPO_ROOT / "benchmarks"))
    subprocess.run([python, "-c", "from support import provenance; provenance.record_once()"],
                   env=env, check=True)


def test_the_stack_is_read_inside_the_environment_and_read_back_by_the_results_layer(tmp_path):
    import numpy

    commit = "ab" * 20
    record_in_a_process(tmp_path, commit, OLD_ENV)
    stacks = results.load_stacks(tmp_path, MACHINE)
    record = stacks[(commit, OLD_ENV)]
    assert record.python == platform.python_version()
    assert record.version("numpy") == numpy.__version__
    assert record.path == results.stack_path(tmp_path, MACHINE, commit, OLD_ENV)
    assert f"Python {platform.python_version()}, numpy {numpy.__version__}" in record.describe()


def test_a_plain_asv_run_records_no_stack(tmp_path):
    assert provenance.record_path({"ASV_COMMIT": "ab" * 20, "ASV_ENV_NAME": "e"}) is None


def test_an_unreadable_stack_record_is_named(tmp_path):
    folder = results.stack_dir(tmp_path, MACHINE)
    folder.mkdir(parents=True)
    write(folder / "abababab-env.jsonl", '{"commit": "ab", "python": ')
    with pytest.raises(results.ResultsError, match="abababab-env.jsonl"):
        results.load_stacks(tmp_path, MACHINE)
    write(folder / "abababab-env.jsonl", '{"commit": "ab", "python": "3.11.7"}')
    with pytest.raises(results.ResultsError, match="abababab-env.jsonl.*KeyError"):
        results.load_stacks(tmp_path, MACHINE)


# --------------------------------------------------------------------------- the gate


def write_stack(root, commit, env_name, jax, python="3.11.7"):
    path = results.stack_path(root, MACHINE, commit, env_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, json.dumps({
        "commit": commit, "env_name": env_name, "python": python,
        "packages": {"jax": jax, "jaxlib": jax, "numpy": "2.4.6"}}))


@pytest.fixture
def two_stacks(tmp_path):
    """main's tip and a no-op commit in the old stack; the tip again in the new one, where
    jax makes the hypotest slower (jax and jaxlib 0.9.2 -> 0.10.2)."""
    writer = ResultsWriter(tmp_path / "results")
    tip = writer.commit("tip", good_values(), env=OLD_ENV)
    noop = writer.commit("noop", good_values(seed=5), env=OLD_ENV)
    slow = good_values(seed=9)
    slow[TIME][0] = samples_around(0.020, seed=3)  # x2 at 1 bin
    writer.commit("tip", slow, env=NEW_ENV)
    for commit, env, jax in ((tip, OLD_ENV, "0.9.2"), (noop, OLD_ENV, "0.9.2"),
                             (tip, NEW_ENV, "0.10.2")):
        write_stack(writer.root, commit, env, jax)
    return writer, tip, noop


def test_the_gate_compares_a_commit_within_its_stack_and_names_the_stack(two_stacks, tmp_path):
    writer, tip, noop = two_stacks
    report = gate.run_gate(writer.root, MACHINE, commits=[noop], report_dir=tmp_path / "r")
    assert report.findings == [] and report.exit_code == 0
    slow = good_values(seed=5)
    slow[TIME][1] = samples_around(0.100, seed=4)
    slower = writer.commit("slower", slow, env=OLD_ENV)
    write_stack(writer.root, slower, OLD_ENV, "0.9.2")
    report = gate.run_gate(writer.root, MACHINE, commits=[slower], report_dir=tmp_path / "r")
    assert [f.kind for f in report.findings] == ["slower"]
    assert report.findings[0].stack["after"]["jax"] == "0.9.2"
    markdown = report.to_markdown()
    assert "## Stacks measured in" in markdown
    assert "**A**: Python 3.11.7, numpy 2.4.6, jax 0.9.2, jaxlib 0.9.2" in markdown
    assert "stack A" in markdown


def test_an_upstream_change_names_the_packages_and_both_versions(two_stacks):
    writer, tip, noop = two_stacks
    found, info = upstream.compare(writer.root, MACHINE, tip, OLD_ENV, NEW_ENV, JAX_CHANGE)
    assert [(f.kind, f.upstream["change"], f.benchmark, f.params["n_bins"]) for f in found] == [
        ("upstream", "slower", TIME, "1")]
    assert found[0].commit == tip
    assert found[0].detail.startswith("jax 0.9.2 -> 0.10.2, jaxlib 0.9.2 -> 0.10.2: slower")
    assert found[0].stack["before"]["jax"] == "0.9.2" and found[0].stack["after"]["jax"] == "0.10.2"
    report = gate.Report(machine=MACHINE, commits=[], findings=found, info=info)
    assert report.exit_code == 1
    markdown = report.to_markdown()
    assert "## Upstream" in markdown and "jax 0.9.2 → 0.10.2" in markdown
    assert "stacks A -> B" in markdown


def test_a_stack_that_breaks_pyhf_is_an_upstream_finding_with_its_error(tmp_path):
    writer = ResultsWriter(tmp_path / "results")
    tip = writer.commit("tip", good_values(), env=OLD_ENV)
    found, _ = upstream.compare(writer.root, MACHINE, tip, OLD_ENV, NEW_ENV, JAX_CHANGE,
                                why_unbuilt="ERROR: No matching distribution found for jax==0.10.2")
    assert [(f.kind, f.upstream["change"]) for f in found] == [("upstream", "build_failed")]
    assert "jax 0.9.2 -> 0.10.2" in found[0].detail
    assert "No matching distribution found for jax==0.10.2" in found[0].detail
    failing = good_values()
    failing[TRACK] = [None, None, float("nan"), float("nan")]
    writer.commit("tip", failing, env=NEW_ENV)
    found, _ = upstream.compare(writer.root, MACHINE, tip, OLD_ENV, NEW_ENV, JAX_CHANGE)
    assert sorted((f.upstream["change"], f.params["n_bins"]) for f in found) == [
        ("newly_failing", "1"), ("newly_failing", "10")]


def test_of_several_changes_the_one_that_causes_a_finding_is_found_one_at_a_time(two_stacks):
    writer, tip, noop = two_stacks
    current = stacklib.Stack("3.11", (("jax", "0.9.2"), ("jaxlib", "0.9.2"), ("numpy", "2.4.6")))
    candidate = stacklib.Stack("3.11", (("jax", "0.10.2"), ("jaxlib", "0.10.2"),
                                        ("numpy", "2.5.5")))
    changes = current.changes(candidate)
    found, _ = upstream.compare(writer.root, MACHINE, tip, OLD_ENV, NEW_ENV, changes)
    assert len(found) == 1
    measured = []

    def measure(step, bench):
        """jax 0.10.2 makes the hypotest slower; numpy 2.5.5 changes nothing."""
        measured.append((step.versions, bench))
        env = f"step-{len(measured)}"
        values = good_values(seed=11)
        if step.versions["jax"] == "0.10.2":
            values[TIME][0] = samples_around(0.020, seed=12)
        writer.commit("tip", values, env=env)
        return env

    notes = upstream.one_package_at_a_time(current, candidate, found, measure, writer.root,
                                           MACHINE, tip, OLD_ENV)
    assert notes == []
    assert [v for v, _ in measured] == [
        {"jax": "0.10.2", "jaxlib": "0.10.2", "numpy": "2.4.6"}]  # found at the first step
    assert measured[0][1] == [rf"^{re.escape(found[0].label)}$"]
    assert found[0].upstream["cause"] == [["jax", "0.9.2", "0.10.2"], ["jaxlib", "0.9.2", "0.10.2"]]
    assert found[0].detail.startswith("caused by jax 0.9.2 -> 0.10.2, jaxlib 0.9.2 -> 0.10.2 alone")


def test_every_configuration_of_a_night_but_legacy_is_in_its_stack(tmp_path):
    """The remeasure, the confirmations and the publish measure in the night's stack, so
    that they compare like with like (the remeasure once built an unpinned environment
    and found nothing to compare)."""
    from helpers.nightly_lab import make_nightly

    path = write(tmp_path / "s.txt", "numpy==2.4.5\nscipy==1.17.1\niminuit==2.33.0\n")
    nightly = make_nightly(tmp_path, "--matrix", "numpy", "--stack", str(path))
    current, candidate = nightly.plan_stacks()
    assert current == candidate and current.versions["numpy"] == "2.4.5"
    assert json.loads((tmp_path / "work" / "stack.json").read_text())["pins"]["numpy"] == "2.4.5"
    for purpose in ("run", "remeasure", "confirm-tracks", "publish"):
        config = json.loads(nightly.write_config(purpose, tmp_path / "r").read_text())
        assert config["pythons"] == ["3.11"] and config["matrix"]["req"]["numpy"] == ["2.4.5"]
    legacy = json.loads(nightly.write_config("run-legacy", tmp_path / "r", matrix="legacy")
                        .read_text())
    assert legacy["matrix"]["req"]["numpy"] == ["1.26.4"]
