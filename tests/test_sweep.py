"""scripts/stack-sweep: stacks per release, the selection, and the page (fast: synthetic
results, a fake registry)."""

import json
import subprocess

import pytest

from helpers.report_results import benchmark_spec, write_results
from pyhfbench import asvconf, mainjob, results, sweep
from pyhfbench import stack as stacklib

REQ = asvconf.matrix_requirements("current")
NEWEST = stacklib.Stack("3.13", (("iminuit", "2.33.0"), ("jax", "0.12.1"), ("jaxlib", "0.12.1"),
                                 ("numpy", "2.5.5"), ("scipy", "1.18.1")))
COMMIT = "c" * 40


def test_the_selection_matches_the_workloads_labels_for_numpy_and_jax_only():
    regexes = sweep.selection()
    labels = [mainjob.label_of(name, (f"'{backend}'", *[p.strip() for p in rest.split(",")]))
              for _, name, rest in sweep.WORKLOADS for backend in ("numpy", "jax", "pytorch")]
    chosen = [label for label in labels if mainjob.is_selected(label, regexes)]
    assert len(chosen) == 2 * len(sweep.WORKLOADS)
    assert not any("pytorch" in label for label in chosen)


def fake_pip(refuse_with_numpy=()):
    """pip that resolves what it is given (pins as pinned, the rest at NEWEST) and refuses
    jax versions in ``refuse_with_numpy`` beside a pinned numpy."""

    def run(command, **kwargs):
        pins = dict(a.split("==") for a in command if "==" in a)
        if pins.get("jax") in refuse_with_numpy and "numpy" in pins:
            return subprocess.CompletedProcess(command, 1, "", "ERROR: ResolutionImpossible")
        versions = dict(NEWEST.versions, **pins)
        if "jax" in pins:
            versions["jaxlib"] = pins["jax"]
            if "numpy" not in pins:
                versions["numpy"] = "2.3.5"
        report = {"install": [{"metadata": {"name": n, "version": v}} for n, v in versions.items()]}
        return subprocess.CompletedProcess(command, 0, json.dumps(report), "")
    return run


def test_each_release_keeps_the_other_packages_where_pip_can():
    stacks = sweep.stacks_for(REQ, NEWEST, "jax", ["0.12.1", "0.9.2"], "/py",
                              runner=fake_pip(refuse_with_numpy={"0.9.2"}))
    (v1, s1, n1), (v2, s2, n2) = stacks
    assert (v1, s1.versions["jax"], s1.versions["jaxlib"], s1.versions["numpy"], n1) == \
        ("0.12.1", "0.12.1", "0.12.1", "2.5.5", "")
    assert (v2, s2.versions["jax"], s2.versions["jaxlib"]) == ("0.9.2", "0.9.2", "0.9.2")
    assert n2 == "pip moved numpy 2.5.5 -> 2.3.5"


def test_published_versions_are_read_from_pip_index():
    def pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 0, "jax (0.12.1)\nAvailable versions: "
                                           "0.12.1, 0.12.0.1, 0.11.2\n", "")
    assert sweep.published_versions("/py", "jax", runner=pip) == ["0.12.1", "0.12.0.1", "0.11.2"]
    with pytest.raises(sweep.SweepError, match="jax"):
        sweep.published_versions("/py", "jax", runner=lambda c, **k: subprocess.CompletedProcess(
            c, 1, "", "ERROR: no index"))


def write_release(root, jax, seconds, cls):
    """main's tip in the stack with ``jax``: every workload takes ``seconds``, CLs is ``cls``."""
    import ast

    env = f"virtualenv-py3.13-jax{jax}"
    specs, values = {}, {}
    for label, name, rest in sweep.WORKLOADS:
        params = [ast.literal_eval(p.strip()) for p in rest.split(",")]
        kind = "track" if label == "CLs" else "time"
        specs[name] = benchmark_spec(name, ["backend", *[f"p{i}" for i in range(len(params))]],
                                     [["numpy", "jax"], *[[p] for p in params]], kind,
                                     "CLs [result]" if kind == "track" else "seconds")
        values[name] = {(b, *params): cls if kind == "track" else seconds for b in ("numpy", "jax")}
    write_results(root, "box", COMMIT, 1_700_000_000_000, values, specs, env=env)
    path = results.stack_path(root, "box", COMMIT, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "commit": COMMIT, "env_name": env, "python": "3.13.0",
        "packages": {"jax": jax, "jaxlib": jax, "numpy": "2.5.5"}}))


def test_the_page_shows_each_workload_against_the_release_and_the_largest_change(tmp_path):
    write_release(tmp_path, "0.10.2", 0.010, 0.27)
    write_release(tmp_path, "0.12.1", 0.013, 0.27)
    rows = sweep.sweep_table(tmp_path, "box", "jax", COMMIT)
    assert [r.version("jax") for r, _ in rows] == ["0.10.2", "0.12.1"]
    assert rows[1][1][("hypotest", "jax")] == pytest.approx(0.013)
    ratio, label, backend, old, new = sweep.largest_change(rows, "jax")
    assert (round(ratio, 3), old, new) == (1.3, "0.10.2", "0.12.1")
    page = sweep.sweep_page(tmp_path, "box", "jax", COMMIT, tmp_path / "page")
    text = (tmp_path / "page" / "index.md").read_text()
    assert "| 0.12.1 | Python 3.13.0, numpy 2.5.5, jax 0.12.1, jaxlib 0.12.1 | 13 ms" in text
    assert "x1.300 from jax 0.10.2 to 0.12.1" in text
    assert page.name == "index.html" and (tmp_path / "page" / "hypotest.png").is_file()


def test_a_publish_takes_every_sweep_page_along(tmp_path):
    from pyhfbench import sweep_pages

    page = sweep_pages.page_dir("jax", tmp_path / "sweep")
    page.mkdir(parents=True)
    (page / "index.html").write_text("<p>jax</p>")
    (page / "hypotest.png").write_bytes(b"png")
    copied = sweep_pages.copy_sweep_pages(tmp_path / "html", tmp_path / "sweep")
    assert copied == [tmp_path / "html" / "stack-sweep" / "jax" / "index.html"]
    assert (tmp_path / "html" / "stack-sweep" / "jax" / "hypotest.png").read_bytes() == b"png"
