"""Issue 29, probes 2, 3 and 4: publishing is atomic, unreadable inputs are findings, and
malformed values are messages naming the file and the field. Every input is built here."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from helpers.gate_results import MACHINE, TIME, ResultsWriter, good_values
from helpers.report_results import NEW, OLD, SPECS, write_results
from pyhfbench import aside, dashboard, gate, inputs, nightly, report
from pyhfbench.runtools import NightlyError
from helpers.nightly_lab import make_nightly

GATE = REPO_ROOT / "scripts" / "gate"


def snapshot(root):
    """Every file, folder and link under ``root``: what "byte-identical afterwards" means."""
    root = Path(root)
    found = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[key] = "dir"
    return found


def newest_file(results_dir, machine, commit):
    return next(p for p in (Path(results_dir) / machine).iterdir()
                if p.name.startswith(commit[:8]) and p.name != "machine.json")


def edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


# --------------------------------------------------------------------------- the gate

@pytest.fixture
def history(tmp_path):
    """Three commits of synthetic results; the newest the one the probes damage."""
    writer = ResultsWriter(tmp_path / "results")
    writer.commit("a", good_values(seed=1))
    writer.commit("b", good_values(seed=2))
    newest = writer.commit("c", good_values(seed=3))
    writer.newest = newest_file(writer.root, MACHINE, newest)
    return writer


def run_gate(writer, tmp_path, *extra):
    return gate.main(["--results-dir", str(writer.root), "--machine", MACHINE, "--last", "1",
                      "--report-dir", str(tmp_path / "reports"), "--quiet", *extra])


MALFORMED = {
    "string value": (lambda d: d["results"][TIME][0].__setitem__(0, "fast"),
                     f"field results[\"{TIME}('numpy', 1)\"] value is 'fast', not a number"),
    "string date": (lambda d: d.__setitem__("date", "2026-12-07"),
                    "field date is '2026-12-07', not a number"),
    "null commit hash": (lambda d: d.__setitem__("commit_hash", None),
                         "field commit_hash is None, not a hexadecimal commit hash"),
    "string sample": (lambda d: d["results"][TIME][11][0].__setitem__(0, "x"),
                      f"field results[\"{TIME}('numpy', 1)\"] samples is 'x', not a number"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_gate_names_the_file_and_field_of_a_malformed_value(history, tmp_path, capsys, case):
    edit, message = MALFORMED[case]
    edit_json(history.newest, edit)
    assert run_gate(history, tmp_path) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected" not in err
    assert err.startswith(f"gate: {history.newest}: {message}")
    saved = json.loads((tmp_path / "reports" / "regressions.json").read_text())
    assert saved["exit_code"] == 2 and any(str(history.newest) in e for e in saved["errors"])


def test_malformed_value_is_named_by_the_results_layer(history):
    edit_json(history.newest, MALFORMED["string value"][0])
    from pyhfbench import results

    with pytest.raises(results.ResultsError, match=r"value is 'fast', not a number"):
        results.load_file(history.newest)


@pytest.mark.parametrize("damage", ["missing", "truncated", "not an object"])
def test_gate_names_an_unreadable_benchmarks_json(history, tmp_path, capsys, damage):
    path = history.root / "benchmarks.json"
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_text(path.read_text()[:40])
    else:
        path.write_text("[]")
    # Narrowed to time_ benchmarks it said "clean" with exit 0 before.
    assert run_gate(history, tmp_path, "--bench", "time_") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gate: {path}: ")


def test_gate_names_a_truncated_result_file(history, tmp_path, capsys):
    history.newest.write_text(history.newest.read_text()[:200])
    assert run_gate(history, tmp_path) == 2
    assert f"gate: {history.newest}: not a readable asv results file" in capsys.readouterr().err


def _gate_into_a_closed_pipe(writer, tmp_path):
    """scripts/gate with its stdout and stderr on a pipe nobody reads any more (``| head``)."""
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run([sys.executable, str(GATE), "--results-dir", str(writer.root),
                           "--machine", MACHINE, "--last", "1",
                           "--report-dir", str(tmp_path / "reports")],
                          stdout=write, stderr=write, cwd=REPO_ROOT, timeout=300)
    os.close(write)
    return proc.returncode


def test_closed_pipe_does_not_turn_a_broken_gate_into_findings(history, tmp_path):
    edit_json(history.newest, MALFORMED["null commit hash"][0])
    assert _gate_into_a_closed_pipe(history, tmp_path) == 2


def test_closed_stdout_after_the_message_is_not_findings(history, tmp_path):
    """``2>&1 | head -1``: the first line (what broke it) read, then the reader gone while
    rich prints the summary (rich exits 1 on a closed pipe)."""
    edit_json(history.newest, MALFORMED["string value"][0])
    proc = subprocess.run(
        f"{GATE} --results-dir {history.root} --machine {MACHINE} --report-dir "
        f"{tmp_path / 'reports'} 2>&1 | head -1; exit ${{PIPESTATUS[0]}}", shell=True,
        executable="/bin/bash", cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.stdout.startswith(f"gate: {history.newest}: field results[")
    assert proc.returncode == 2


def test_closed_pipe_keeps_the_gate_s_judgement(tmp_path):
    writer = ResultsWriter(tmp_path / "results")
    writer.commit("a", good_values(seed=1))
    writer.commit("b", good_values(time_center=(0.030, 0.150), seed=2))  # x3 slower: findings
    assert _gate_into_a_closed_pipe(writer, tmp_path) == 1


# --------------------------------------------------------------------------- the report

DAY = 86_400_000
TIMES = {TIME: {("numpy", "cpu", 1): 0.01, ("numpy", "cpu", 10): 0.02}}


@pytest.fixture
def published(tmp_path):
    """Results of a 2024 commit and a newer one, and a report built from them."""
    results_dir, html_dir = tmp_path / "results", tmp_path / "html"
    write_results(results_dir, "host", OLD, 1_704_067_200_000, TIMES, SPECS)  # 2024-01-01
    write_results(results_dir, "host", NEW, 1_704_067_200_000 + 700 * DAY, TIMES, SPECS)
    html_dir.mkdir()
    (html_dir / "index.html").write_text("<html><body>the dashboard</body></html>\n")
    (html_dir / "index.json").write_text('{"benchmarks": {}}\n')  # as asv publish leaves it
    assert run_report(results_dir, html_dir) == 0
    assert (html_dir / "report" / "index.html").is_file()
    return results_dir, html_dir


def run_report(results_dir, html_dir, *extra):
    return report.main(["--results-dir", str(results_dir), "--html-dir", str(html_dir),
                        "--machine", "host", *extra])


@pytest.mark.parametrize("damage", ["truncated", "string value", "benchmarks.json missing"])
def test_report_refuses_unreadable_input_and_keeps_the_old_report(published, capsys, damage):
    results_dir, html_dir = published
    newest = newest_file(results_dir, "host", NEW)
    named = newest
    if damage == "truncated":  # it presented the 2024 commit as the latest, exit 0
        newest.write_text(newest.read_text()[:300])
    elif damage == "string value":  # a traceback, and html/report deleted
        edit_json(newest, lambda d: d["results"][TIME][0].__setitem__(0, "fast"))
    else:
        named = results_dir / "benchmarks.json"
        named.unlink()
    before = snapshot(html_dir.parent)
    capsys.readouterr()
    assert run_report(results_dir, html_dir) == 2
    err = capsys.readouterr().err
    assert err.startswith("report: unreadable input, nothing published: ")
    assert str(named) in err and "Traceback" not in err
    assert snapshot(html_dir.parent) == before


def test_report_failing_midway_keeps_the_old_report(published, capsys, monkeypatch):
    results_dir, html_dir = published
    before = snapshot(html_dir.parent)

    def broken(*args, **kwargs):
        raise TypeError("'<' not supported between instances of 'str' and 'float'")

    monkeypatch.setattr(report, "memory_section", broken)
    assert run_report(results_dir, html_dir) == 2
    assert "report: unexpected TypeError" in capsys.readouterr().err
    assert snapshot(html_dir.parent) == before


def test_report_output_folder_of_other_files_is_refused(published, tmp_path, capsys):
    results_dir, html_dir = published
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    (mine / "index.html").write_text("<p>my page</p>\n")
    before = snapshot(mine)
    assert run_report(results_dir, html_dir, "--output", str(mine)) == 2
    assert "holds files this command did not write" in capsys.readouterr().err
    assert snapshot(mine) == before
    # Its own report, an empty folder and a new one it replaces.
    for folder in (html_dir / "report", tmp_path / "empty", tmp_path / "new"):
        if folder.name == "empty":
            folder.mkdir()
        assert run_report(results_dir, html_dir, "--output", str(folder)) == 0
        assert (folder / "index.html").is_file() and (folder / report.REPORT_MARKER).is_file()


def test_a_report_from_before_the_marker_is_replaced(published):
    results_dir, html_dir = published
    (html_dir / "report" / report.REPORT_MARKER).unlink()
    assert run_report(results_dir, html_dir) == 0


# --------------------------------------------------------------------------- publish

def write_publish_config(tmp_path, results_dir, html_dir, repo):
    config = tmp_path / "asv.json"
    config.write_text(json.dumps({
        "version": 1, "project": "pyhf", "project_url": "https://example.org",
        "repo": str(repo), "branches": ["main"], "environment_type": "virtualenv",
        "results_dir": str(results_dir), "html_dir": str(html_dir),
        "env_dir": str(tmp_path / "env"), "benchmark_dir": str(REPO_ROOT / "benchmarks")}))
    return config


@pytest.mark.parametrize("damage", ["truncated", "string value", "benchmarks.json missing",
                                    "asv publish fails"])
def test_publish_keeps_the_old_site(published, tmp_path, capsys, damage):
    results_dir, html_dir = published
    newest = newest_file(results_dir, "host", NEW)
    named = str(newest)
    if damage == "truncated":  # the dashboard silently lacked the newest commit, exit 0
        newest.write_text(newest.read_text()[:300])
    elif damage == "string value":  # "asv publish failed", the old site gone
        edit_json(newest, lambda d: d["results"][TIME][0].__setitem__(0, "fast"))
    elif damage == "benchmarks.json missing":
        named = str(results_dir / "benchmarks.json")
        (results_dir / "benchmarks.json").unlink()
    else:
        named = "asv publish failed"  # no repository: asv cannot order the commits
    config = write_publish_config(tmp_path, results_dir, html_dir, tmp_path / "no-repo")
    before = snapshot(html_dir.parent)
    capsys.readouterr()
    assert dashboard.main(["--config", str(config), "--machine", "host"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("publish: ") and named in err and "Traceback" not in err
    assert snapshot(html_dir.parent) == before


def test_publish_refuses_an_html_folder_of_other_files(published, tmp_path, capsys):
    results_dir, _ = published
    mine = tmp_path / "my-site"
    mine.mkdir()
    (mine / "index.html").write_text("<p>my own page</p>\n")
    config = write_publish_config(tmp_path, results_dir, mine, tmp_path / "no-repo")
    assert dashboard.main(["--config", str(config)]) == 2
    assert "holds files this command did not write" in capsys.readouterr().err
    assert snapshot(mine) == {"index.html": hashlib.sha256(b"<p>my own page</p>\n").hexdigest()}


def test_publish_builds_aside_and_swaps_in(published, tmp_path):
    """A complete publish replaces the site whole (asv's own build, then the project's pages)."""
    results_dir, html_dir = published
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(repo)], check=True)
    config = write_publish_config(tmp_path, results_dir, html_dir, repo)

    def fake_asv(command, cwd=None):  # what asv publish writes, without a repository
        out = Path(command[command.index("--html-dir") + 1])
        (out / "index.html").write_text("<html><body>new dashboard</body></html>\n")
        (out / "index.json").write_text(json.dumps({"benchmarks": {}}))
        return subprocess.CompletedProcess(command, 0)

    original = subprocess.run
    try:
        dashboard.subprocess.run = fake_asv
        assert dashboard.main(["--config", str(config), "--machine", "host"]) == 0
    finally:
        dashboard.subprocess.run = original
    assert "new dashboard" in (html_dir / "index.html").read_text()
    assert (html_dir / "report" / "index.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".html.")]


# --------------------------------------------------------------------------- the nightly

def test_nightly_publish_refuses_unreadable_results(tmp_path):
    run = make_nightly(tmp_path)
    writer = ResultsWriter(run.results_dir)
    writer.commit("a", good_values())
    newest = newest_file(run.results_dir, MACHINE, writer.commit("b", good_values()))
    newest.write_text(newest.read_text()[:100])
    versions = tmp_path / ".html.versions" / "1"
    versions.mkdir(parents=True)
    (versions / "index.html").write_text("published")
    nightly.swap_symlink(run.html_dir, versions)
    before = snapshot(tmp_path / ".html.versions")
    with pytest.raises(NightlyError, match=rf"{newest.name}: not a readable asv results file.*"
                       "left as it was"):
        run.publish()
    assert snapshot(tmp_path / ".html.versions") == before
    assert (run.html_dir / "index.html").read_text() == "published"


# --------------------------------------------------------------------------- the helpers

def test_built_aside_leaves_the_folder_whole_on_failure(tmp_path):
    dest = tmp_path / "site"
    dest.mkdir()
    (dest / "index.html").write_text("old")
    with pytest.raises(RuntimeError), aside.built_aside(dest) as work:
        (work / "index.html").write_text("half")
        raise RuntimeError("failed midway")
    assert snapshot(tmp_path) == {"site": "dir", "site/index.html": hashlib.sha256(
        b"old").hexdigest()}
    with aside.built_aside(dest) as work:
        (work / "index.html").write_text("new")
    assert (dest / "index.html").read_text() == "new" and len(list(tmp_path.iterdir())) == 1
    assert oct(dest.stat().st_mode & 0o777) != oct(0o700)


def test_unreadable_lists_every_file(tmp_path):
    writer = ResultsWriter(tmp_path / "results")
    first = newest_file(writer.root, MACHINE, writer.commit("a", good_values()))
    first.write_text("{")
    (writer.root / "benchmarks.json").write_text("{")
    found = [path for path, _ in inputs.unreadable(writer.root)]
    assert found == [first, writer.root / "benchmarks.json"]
