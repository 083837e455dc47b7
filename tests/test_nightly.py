"""scripts/nightly's machinery without asv runs: lock, commit selection, staging, html swap."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyhfbench import history, machines, nightly, nightly_cli, results, runtools
from helpers.gate_results import MACHINE, ResultsWriter, good_values
from helpers.nightly_lab import make_nightly

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_lock_is_exclusive_and_released(tmp_path):
    lock_file, results_dir = tmp_path / "work" / "nightly.lock", tmp_path / "results"
    with runtools.RunLock(lock_file, [results_dir]):
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
        with pytest.raises(runtools.LockBusy, match=f"pid {os.getpid()}"):
            with runtools.RunLock(lock_file, [results_dir]):
                pass
        # Another workdir writing the same results folder is refused too.
        with pytest.raises(runtools.LockBusy, match="results"):
            with runtools.RunLock(tmp_path / "other" / "nightly.lock", [results_dir]):
                pass
    with runtools.RunLock(lock_file, [results_dir]):
        pass


def test_lock_waits_for_the_holder(tmp_path):
    lock_file = tmp_path / "nightly.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock_file)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(1.5)\n")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(runtools.LockBusy):
        with runtools.RunLock(lock_file, wait=0.2):
            pass
    with runtools.RunLock(lock_file, wait=30):
        pass
    holder.wait()


def test_a_second_nightly_gives_up_with_exit_2_while_the_lock_is_held(tmp_path, capsys):
    """Issue 29, probe 1: the running night's record (three findings, exit 1) stays as it is."""
    work, reports = tmp_path / "work", tmp_path / "reports"
    records = {work / "last-run.json": '{"exit_status": 1, "gate": {"findings": 3}}\n',
               reports / "last-run.json": '{"exit_status": 1, "gate": {"findings": 3}}\n',
               reports / "regressions.json": '{"status": "findings", "exit_code": 1}\n',
               reports / "regressions.md": "# three findings\n"}
    for path, text in records.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    with runtools.RunLock(work / "nightly.lock", [tmp_path / "results"]):
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        code = nightly_cli.main([
            "--repo", str(tmp_path / "no-repo"), "--machine", MACHINE,
            "--workdir", str(work), "--results-dir", str(tmp_path / "results"),
            "--report-dir", str(reports),
        ])
    assert code == 2
    assert "holds the lock" in capsys.readouterr().err
    assert {path: path.read_text() for path in records} == records
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("held", ["results", "reports", ".html.versions"])
def test_the_lock_covers_the_results_and_the_reports(tmp_path, capsys, held):
    """Another workdir, the same results or report folder: the second run writes nothing."""
    work = tmp_path / "work"
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "regressions.md").write_text("the running night's\n")
    with runtools.RunLock(tmp_path / "other" / "nightly.lock", [tmp_path / held]):
        code = nightly_cli.main([
            "--repo", str(tmp_path / "no-repo"), "--machine", MACHINE,
            "--workdir", str(work), "--results-dir", str(tmp_path / "results"),
            "--report-dir", str(tmp_path / "reports"), "--html-dir", str(tmp_path / "html"),
        ])
    assert code == 2
    assert f"holds the lock on {tmp_path / held}" in capsys.readouterr().err
    assert (tmp_path / "reports" / "regressions.md").read_text() == "the running night's\n"
    assert not (work / "last-run.json").exists() and not list(work.rglob("*.log"))


def test_a_run_that_cannot_start_leaves_the_running_night_s_record(tmp_path, capsys,
                                                                    monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "last-run.json").write_text("the running night's\n")

    def cannot_start(args):
        raise RuntimeError("NVML cannot reach the GPU")

    monkeypatch.setattr(nightly_cli, "Nightly", cannot_start)
    argv = ["--machine", MACHINE, "--workdir", str(work), "--report-dir", str(tmp_path / "r")]
    with runtools.RunLock(work / "nightly.lock"):
        assert nightly_cli.main(argv) == 2
    assert (work / "last-run.json").read_text() == "the running night's\n"
    assert not (tmp_path / "r").exists()
    assert nightly_cli.main(argv) == 2  # nobody holds the lock: the failed start is recorded
    assert "NVML cannot reach the GPU" in (work / "last-run.json").read_text()


def test_unknown_branch_is_a_broken_run(tmp_path, capsys):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "--quiet", "--allow-empty", "-m", "x"], check=True)
    code = nightly_cli.main([
        "--repo", str(repo), "--branch", "nope", "--machine", MACHINE,
        "--workdir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "results"),
        "--report-dir", str(tmp_path / "reports"), "--machine-file", str(tmp_path / "m.json"),
    ])
    assert code == 2
    assert "branch 'nope' does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("stored, pending, expected, note", [
    (set(), [], ["e"], "branch head only"),        # first run
    ({"c"}, [], ["d", "e"], None),                 # the commits above the newest stored
    ({"e"}, [], [], None),                         # nothing new
    ({"a"}, [], ["c", "d", "e"], "newest 3"),      # capped
    ({"a"}, ["b", "c"], ["d", "e"], None),         # an interrupted run planned b and c
])
def test_commit_selection(stored, pending, expected, note):
    branch = ["e", "d", "c", "b", "a"]  # newest first, as git rev-list prints
    new, message = nightly.select_new_commits(branch, stored, pending, max_commits=3)
    assert new == expected
    assert (message is None) == (note is None)
    if note:
        assert note in message


def test_harvest_moves_complete_results_and_discards_broken_files(tmp_path):
    run = make_nightly(tmp_path)
    staging = ResultsWriter(run.staging)
    a = staging.commit("a", good_values())
    b = staging.commit("b", good_values(seed=3))
    (run.staging / MACHINE / "0badc0de-env.json").write_text('{"commit_hash": "0bad')
    moved = run.harvest()
    assert sorted(moved) == sorted([a, b])
    assert results.stored_commits(run.results_dir, MACHINE) == {a, b}
    assert (run.results_dir / MACHINE / "machine.json").is_file()
    assert (run.results_dir / "benchmarks.json").is_file()
    assert not list((run.staging / MACHINE).iterdir())
    assert len(list((run.workdir / "rejected").iterdir())) == 1
    loaded = {c.commit: c for c in results.load_machine(run.results_dir, MACHINE)}
    assert loaded[a].get("bench_baseline.HypotestUncorrelatedBackground.time_hypotest",
                         ("'numpy'", "1")).state == results.OK


def test_harvest_merges_with_results_already_stored(tmp_path):
    run = make_nightly(tmp_path)
    values = good_values()
    stored = ResultsWriter(run.results_dir)
    commit = stored.commit("a", {k: v for k, v in values.items() if "peakmem" in k})
    ResultsWriter(run.staging).commit("a", {k: v for k, v in values.items() if "peakmem" not in k})
    run.harvest()
    (loaded,) = results.load_machine(run.results_dir, MACHINE)
    assert loaded.commit == commit
    assert {name for name, _ in loaded.measurements} == set(values)


def test_harvest_after_an_interrupted_interleaved_run_rejects_partial_samples(tmp_path):
    run = make_nightly(tmp_path)
    ResultsWriter(run.staging).commit("a", good_values())
    assert run.harvest(accept=False) == []
    assert results.stored_commits(run.results_dir, MACHINE) == set()


def test_html_is_swapped_in_one_rename(tmp_path):
    html = tmp_path / "html"
    html.mkdir()
    (html / "old.txt").write_text("old")  # a real folder from before: moved aside once
    first = tmp_path / ".html.versions" / "1"
    first.mkdir(parents=True)
    (first / "index.html").write_text("one")
    nightly.swap_symlink(html, first)
    assert html.is_symlink() and (html / "index.html").read_text() == "one"
    second = tmp_path / ".html.versions" / "2"
    second.mkdir()
    (second / "index.html").write_text("two")
    nightly.swap_symlink(html, second)
    assert (html / "index.html").read_text() == "two"
    assert not os.path.isabs(os.readlink(html))


def test_machine_name_carries_the_gpu_model(tmp_path, monkeypatch):
    assert machines.default_machine_name() == machines.propose_machine_name()
    # Where the suite's NVML naming cannot be used, nvidia-smi names the GPU.
    fake = tmp_path / "bin"
    fake.mkdir()
    smi = fake / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    assert machines.smi_machine_name().endswith("-h100-80gb-hbm3")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert machines.smi_machine_name().endswith("-cpu")


def test_bench_selection_leaves_gpu_combinations_out_on_a_cpu_host(monkeypatch):
    from pyhfbench import mainjob

    monkeypatch.setattr(mainjob, "gpu_present", lambda: False)
    (regex,) = machines.bench_regexes([r"time_hypotest\('numpy'"])
    label = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"
    assert re.search(regex, f"{label}('numpy', 'cpu', 10)")
    assert not re.search(regex, f"{label}('numpy', 'gpu', 10)")
    assert not re.search(regex, f"{label}('jax', 'cpu', 10)")
    assert len(machines.bench_regexes(quick_suite=True)) == len(mainjob.quick_suite())
    monkeypatch.setattr(mainjob, "gpu_present", lambda: True)
    assert machines.bench_regexes([r"x"]) == [r"x"] and machines.bench_regexes() == []


def test_scripts_are_thin_executables():
    for name in ("nightly", "gate"):
        script = REPO_ROOT / "scripts" / name
        assert os.access(script, os.X_OK)
        out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                             text=True, check=True).stdout
        assert "Exit 0 clean, 1 findings, 2" in " ".join(out.split())


def test_workflows_call_the_scripts():
    nightly_yml = (REPO_ROOT / ".github" / "workflows" / "nightly.yml").read_text()
    pr_yml = (REPO_ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert "scripts/nightly" in nightly_yml and "schedule:" in nightly_yml
    assert "workflow_dispatch:" in nightly_yml and "self-hosted" in nightly_yml
    assert "regressions.md" in nightly_yml
    assert "pull_request:" in pr_yml and "pytest" in pr_yml and "scripts/nightly" in pr_yml


def test_mirror_is_cloned_then_fetched_and_release_tags_are_found(tmp_path):
    repo = tmp_path / "repo"

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                               *args], capture_output=True, text=True, check=True).stdout.strip()

    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(repo)], check=True)
    git("commit", "--quiet", "--allow-empty", "-m", "one")
    git("tag", "v0.1.0")
    git("commit", "--quiet", "--allow-empty", "-m", "two")
    git("tag", "-a", "v0.2.0", "-m", "annotated")
    git("tag", "not-a-release")
    run = make_nightly(tmp_path, "--repo", str(repo))
    assert run.update_mirror() == git("rev-parse", "HEAD")
    assert dict(history.release_tags(run.mirror, oldest=(0, 0, 0))) == {
        "v0.1.0": git("rev-parse", "v0.1.0"), "v0.2.0": git("rev-parse", "v0.2.0^{commit}")}
    git("commit", "--quiet", "--allow-empty", "-m", "three")
    assert run.update_mirror() == git("rev-parse", "HEAD")  # fetched, not cloned again
    assert run.branch_commits()[0] == git("rev-parse", "HEAD")
    assert len(run.branch_commits()) == 3


def test_results_are_committed_only_in_their_own_checkout(tmp_path):
    checkout = tmp_path / "results-branch"
    subprocess.run(["git", "init", "--quiet", "--initial-branch=results", str(checkout)], check=True)
    run = make_nightly(tmp_path, "--results-dir", str(checkout / "results"))
    ResultsWriter(run.results_dir).commit("a", good_values())
    assert run.commit_results(["a" * 40])
    log = subprocess.run(["git", "-C", str(checkout), "log", "--format=%s", "--name-only"],
                         capture_output=True, text=True, check=True).stdout
    assert "Results of box: 1 commit(s) aaaaaaaa" in log and "results/box/" in log
    assert not run.commit_results([])  # nothing new: no empty commit
    inside = make_nightly(tmp_path, "--results-dir", str(REPO_ROOT / "results" / "no-such"))
    with pytest.raises(nightly.NightlyError, match="separate checkout"):
        inside.commit_results([])
