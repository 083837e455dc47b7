"""The nightly's exit status means what it says: 0 clean, 1 findings, 2 the night broke (fast:
asv is replaced by a stand-in script, no environment is built)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from pyhfbench import gate, machines, nightly, nightly_cli, verdicts
from helpers.gate_results import MACHINE

REPO_ROOT = nightly.REPO_ROOT

#: Stands in for scripts/pyhfbench/asvcall.py: argv is MACHINE_FILE ASV_ARGS...; what each asv
#: subcommand does is in fake_asv.json beside it, as JSON {subcommand: action} (a file: the
#: asv child's environment is an allow-list, scripts/pyhfbench/childenv.py).
FAKE_ASV = r'''
import json, os, pathlib, signal, sys
actions = pathlib.Path(__file__).with_name("fake_asv.json")
action = (json.loads(actions.read_text()) if actions.is_file() else {}).get(sys.argv[2], "ok")
if action == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
sys.exit(0 if action == "ok" else 1)
'''


@pytest.fixture
def pyhf_repo(tmp_path):
    repo = tmp_path / "pyhf"
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "--quiet", "--allow-empty", "-m", "a commit"], check=True)
    return repo


@pytest.fixture
def fake_asv(tmp_path, monkeypatch):
    script = tmp_path / "fake_asvcall.py"
    script.write_text(FAKE_ASV)
    monkeypatch.setattr(nightly, "ASVCALL", script)

    def configure(**actions):
        script.with_name("fake_asv.json").write_text(json.dumps(actions))

    return configure


def run_main(tmp_path, repo, *extra):
    return nightly_cli.main([
        "--repo", str(repo), "--machine", MACHINE, "--workdir", str(tmp_path / "work"),
        "--results-dir", str(tmp_path / "results"), "--html-dir", str(tmp_path / "html"),
        "--report-dir", str(tmp_path / "reports"), "--machine-file", str(tmp_path / "m.json"),
        "--quiet-asv", *extra,
    ])


def records(tmp_path):
    """This night's record, from the report dir (what the workflow uploads) and the workdir."""
    in_reports = json.loads((tmp_path / "reports" / "last-run.json").read_text())
    assert json.loads((tmp_path / "work" / "last-run.json").read_text()) == in_reports
    return in_reports


def plant_an_earlier_night(tmp_path):
    (tmp_path / "reports").mkdir(parents=True)
    (tmp_path / "reports" / "last-run.json").write_text(json.dumps({"exit_status": 0, "night": "old"}))
    (tmp_path / "reports" / "regressions.md").write_text("# no findings (an earlier night)\n")


def test_an_unexpected_exception_is_a_broken_night_with_its_record(tmp_path, pyhf_repo, monkeypatch):
    plant_an_earlier_night(tmp_path)

    def explode(self):
        raise KeyError("injected")

    monkeypatch.setattr(nightly.Nightly, "_run", explode)
    assert run_main(tmp_path, pyhf_repo) == nightly.EXIT_BROKEN
    record = records(tmp_path)
    assert record["exit_status"] == 2 and "night" not in record
    assert any("unexpected KeyError" in reason and "injected" in reason for reason in record["broken"])
    report = json.loads((tmp_path / "reports" / "regressions.json").read_text())
    assert report["status"] == "broken" and "injected" in " ".join(report["errors"])
    assert "the benchmark run broke" in (tmp_path / "reports" / "regressions.md").read_text()


def test_a_failure_before_the_run_starts_is_broken_and_recorded(tmp_path, pyhf_repo, monkeypatch):
    def no_start(self, args):
        raise OSError("injected at start")

    monkeypatch.setattr(nightly.Nightly, "__init__", no_start)
    assert run_main(tmp_path, pyhf_repo) == nightly.EXIT_BROKEN
    assert "injected at start" in records(tmp_path)["broken"][0]


def test_an_asv_killed_by_a_signal_is_a_broken_night(tmp_path, pyhf_repo, fake_asv):
    fake_asv(machine="ok", run="kill", publish="fail")
    assert run_main(tmp_path, pyhf_repo) == nightly.EXIT_BROKEN
    broken = " | ".join(records(tmp_path)["broken"])
    assert "asv run exited with -9" in broken
    assert "publish failed" in broken  # each trouble of the night is recorded, not only the first


def test_the_nights_log_is_kept_in_the_report_dir_beside_its_record(tmp_path, pyhf_repo, fake_asv):
    plant_an_earlier_night(tmp_path)
    (tmp_path / "reports" / "nightly.log").write_text("an earlier night's log\n")
    fake_asv(machine="kill")
    assert run_main(tmp_path, pyhf_repo) == nightly.EXIT_BROKEN
    log = Path(records(tmp_path)["log"])
    assert log.parent == tmp_path / "work" / "logs"  # the workflow uploads the report dir only
    kept = (tmp_path / "reports" / "nightly.log").read_text()
    assert kept == log.read_text() and "asv machine failed" in kept


def test_a_push_reads_its_credential_from_a_file_never_from_the_command_line(tmp_path):
    assert nightly.credential_args(None) == []
    args = nightly.credential_args(tmp_path / "my creds")
    assert args == ["-c", "credential.helper=", "-c",
                    f"credential.helper=store --file='{tmp_path / 'my creds'}'"]
    (tmp_path / "my creds").write_text("https://x-access-token:ghs_fromfile@github.com\n")
    # What git push asks its helpers for an https remote: the token comes from the file.
    filled = subprocess.run(["git", *args, "credential", "fill"], capture_output=True, text=True,
                            input="protocol=https\nhost=github.com\n\n", check=True,
                            env={"PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0",
                                 "HOME": str(tmp_path)}).stdout
    assert "password=ghs_fromfile" in filled.splitlines()


def test_an_asv_killed_while_registering_the_machine_names_the_signal(tmp_path, pyhf_repo, fake_asv):
    fake_asv(machine="kill")
    assert run_main(tmp_path, pyhf_repo) == nightly.EXIT_BROKEN
    assert "asv machine failed (signal SIGKILL (-9))" in records(tmp_path)["broken"][0]


def test_failed_report_pages_make_publish_a_broken_night(tmp_path, monkeypatch):
    args = nightly_cli.build_parser().parse_args([
        "--machine", MACHINE, "--workdir", str(tmp_path / "work"),
        "--results-dir", str(tmp_path / "results"), "--html-dir", str(tmp_path / "html"),
        "--report-dir", str(tmp_path / "reports")])
    run = nightly.Nightly(args)

    def asv_publish(*asv_args, label=None):
        config = json.loads(Path(asv_args[asv_args.index("--config") + 1]).read_text())
        html = Path(config["html_dir"])  # the fresh folder publish swaps in
        html.mkdir(parents=True, exist_ok=True)
        (html / "index.html").write_text("asv")
        return 0

    def pages_fail(*a, **k):
        raise ValueError("no report today")

    monkeypatch.setattr(run, "asv", asv_publish)
    monkeypatch.setattr(nightly.dashboard, "add_project_pages", pages_fail)
    run.publish()
    assert (tmp_path / "html" / "index.html").is_file()  # the asv dashboard is still published
    assert run.summary["broken"] == [
        "report, utilization pages or local libraries not added: ValueError: no report today"]
    run.log.close()


def test_the_gate_cli_turns_any_exception_into_exit_2(tmp_path, monkeypatch, capsys):
    def explode(*a, **k):
        raise KeyError("injected")

    monkeypatch.setattr(gate, "run_gate", explode)
    assert gate.main(["--results-dir", str(tmp_path), "--report-dir", str(tmp_path / "out"),
                      "--quiet"]) == gate.EXIT_BROKEN
    report = json.loads((tmp_path / "out" / "regressions.json").read_text())
    assert report["status"] == "broken" and "unexpected KeyError" in report["errors"][0]
    assert "unexpected KeyError" in capsys.readouterr().err


def test_the_workflow_fails_on_anything_but_0_and_1_and_uploads_this_nights_record():
    text = (REPO_ROOT / ".github" / "workflows" / "nightly.yml").read_text()
    assert "steps.nightly.outputs.status != '0' && steps.nightly.outputs.status != '1'" in text
    assert "status == '2'" not in text
    assert "work/last-run.json" not in text  # never the workdir's copy (an earlier night's)
    assert "rm -rf reports" in text and "reports/" in text


# --------------------------------------------------------------------------- a GPU host is a GPU host


@pytest.mark.parametrize("machine, extra, init_error, why", [
    ("box-h100-80gb-hbm3", [], "NVML_ERROR_UNKNOWN", "NVML could not start"),
    ("box", ["--expect-gpu"], "NVML_ERROR_DRIVER_NOT_LOADED", "no NVIDIA GPU"),
])
def test_a_broken_gpu_on_a_gpu_machine_is_a_broken_night_with_the_reason(
        tmp_path, pyhf_repo, monkeypatch, machine, extra, init_error, why):
    from helpers.monitor_fakes import install_fake_nvml, pynvml

    install_fake_nvml(monkeypatch, [], init_error=getattr(pynvml, init_error))
    code = nightly_cli.main([
        "--repo", str(pyhf_repo), "--machine", machine, "--workdir", str(tmp_path / "work"),
        "--results-dir", str(tmp_path / "results"), "--report-dir", str(tmp_path / "reports"),
        *extra])
    assert code == nightly.EXIT_BROKEN
    (reason,) = records(tmp_path)["broken"]
    assert f"{machine} is meant to have a GPU" in reason and why in reason


def test_nvml_trouble_never_renames_a_gpu_host_to_cpu(tmp_path, monkeypatch):
    from benchmarks.support import monitor
    from helpers.monitor_fakes import install_fake_nvml, pynvml

    install_fake_nvml(monkeypatch, [], init_error=pynvml.NVML_ERROR_UNKNOWN)
    with pytest.raises(monitor.GpuTrouble):
        machines.default_machine_name()
    code = nightly_cli.main(["--workdir", str(tmp_path / "work"), "--results-dir",
                         str(tmp_path / "results"), "--report-dir", str(tmp_path / "reports")])
    assert code == nightly.EXIT_BROKEN
    assert "NVML could not start" in records(tmp_path)["broken"][0]
    assert not (tmp_path / "results").exists() or not any(
        p.name.endswith("-cpu") for p in (tmp_path / "results").iterdir())


def test_gpu_machines_are_known_by_name_and_by_their_results(tmp_path):
    assert machines.name_says_gpu("node7-h100-80gb-hbm3") and machines.name_says_gpu("n-2x-a100-sxm4-40gb")
    assert not machines.name_says_gpu("node7-cpu") and not machines.name_says_gpu("h100")
    from asv.results import Results
    from asv.runner import BenchmarkResult

    result = Results({"machine": "box", "python": "3.11"}, {}, "a" * 40, 1_700_000_000_000,
                     "3.11", "env", {})
    result.add_result({"name": "bench_x.X.time_x", "params": [["'jax'"], ["'cpu'", "'gpu'"]],
                       "version": "1"},
                      BenchmarkResult(result=[0.1, 0.2], samples=[None, None], number=[None, None],
                                      errcode=0, stderr="", profile=None), duration=1.0,
                      record_samples=True)
    result.save(str(tmp_path / "results"))
    (tmp_path / "results" / "box" / "machine.json").write_text('{"machine": "box", "version": 1}')
    assert machines.gpu_results_stored(tmp_path / "results", "box")
    assert not machines.gpu_results_stored(tmp_path / "results", "other")


def test_gpu_trouble_inside_the_benchmarks_breaks_the_night(tmp_path, monkeypatch):
    from benchmarks.support import backends, monitor
    from helpers.monitor_fakes import FakeGpu, install_fake_nvml

    args = nightly_cli.build_parser().parse_args([
        "--machine", "box", "--expect-gpu", "--workdir", str(tmp_path / "work"),
        "--results-dir", str(tmp_path / "results"), "--report-dir", str(tmp_path / "reports")])
    run = nightly.Nightly(args)
    env = run.child_env()
    assert env[monitor.EXPECT_GPU_ENV] == "1"
    # What a benchmark process does when its framework cannot reach the GPU:
    install_fake_nvml(monkeypatch, [FakeGpu(0)])
    monkeypatch.setenv(monitor.EXPECT_GPU_ENV, "1")
    monkeypatch.setenv(monitor.GPU_TROUBLE_FILE_ENV, env[monitor.GPU_TROUBLE_FILE_ENV])
    run.workdir.mkdir(parents=True, exist_ok=True)
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # A CUDA build that cannot reach the GPU (a CPU build: tests/test_gpu_builds.py).
    monkeypatch.setattr(backends.gpu_builds, "cpu_build_reason", lambda backend: None)
    with pytest.raises(monitor.GpuTrouble):
        backends.activate("pytorch", "gpu")
    run.collect_gpu_trouble()
    assert run.summary["broken"] == [
        "GPU trouble: this machine is meant to have a GPU, but torch sees no CUDA device "
        "(or is a CPU build)"]
    run.log.close()


THROUGHPUT = "bench_toys.Toys.track_toys_per_second"


def throughput_history(root, values_by_commit):
    """Results where THROUGHPUT is a measurement (higher is better, 40 %), one value a combination."""
    from helpers.gate_results import PARAM_NAMES, PARAMS, ResultsWriter

    writer = ResultsWriter(root)
    info = json.loads((root / "benchmarks.json").read_text())
    info[THROUGHPUT] = {"name": THROUGHPUT, "unit": "toys/s [higher is better, 40%]",
                        "param_names": PARAM_NAMES, "params": PARAMS, "type": "track",
                        "version": "1"}
    (root / "benchmarks.json").write_text(json.dumps(info))
    return [writer.commit(name, {THROUGHPUT: values}) for name, values in values_by_commit]


@pytest.mark.parametrize("again, kept", [((100.0, 50.0), True), ((100.0, 95.0), False)])
def test_a_worse_measurement_counts_only_when_measured_again_it_is_worse_again(
        tmp_path, monkeypatch, again, kept):
    base, new = throughput_history(tmp_path / "results", [("a", [100.0] * 4), ("b", [55.0] * 4)])
    run = nightly.Nightly(nightly_cli.build_parser().parse_args([
        "--machine", MACHINE, "--workdir", str(tmp_path / "work"),
        "--results-dir", str(tmp_path / "results"), "--report-dir", str(tmp_path / "reports")]))
    report = gate.run_gate(tmp_path / "results", MACHINE, commits=[new], write=False)
    worse = [f for f in report.findings if f.kind == "worse"]
    assert len(worse) == 4
    remeasured = throughput_history(tmp_path / "again", [("a", [again[0]] * 4),
                                                         ("b", [again[1]] * 4)])
    assert remeasured == [base, new]
    monkeypatch.setattr(run, "measure_again", lambda findings, purpose, extra=(): {
        c.commit: c for c in nightly.resultslib.load_machine(tmp_path / "again", MACHINE)})
    run.confirm_findings(report, gate.Rules(), [], tmp_path / "scratch")
    assert len([f for f in report.findings if f.kind == "worse"]) == (4 if kept else 0)
    judged = report.findings if kept else [f for f in report.info if f.kind == "unconfirmed"]
    assert len(judged) == 4
    assert all(f.confirmation["after"] == again[1] for f in judged)
    assert all(("confirmed when measured again" if kept else "NOT confirmed") in f.detail
               for f in judged)
    run.log.close()


def test_a_commit_measured_again_against_itself_keeps_its_stored_value_as_baseline():
    stored = {"state": "ok", "value": 100.0}
    finding = gate.Finding(kind="worse", commit="c" * 40, baseline_commit="c" * 40,
                           benchmark=THROUGHPUT, param_reprs=["'numpy'", "1"], before=stored)

    class Again:
        def get(self, benchmark, params):
            found = (benchmark, params) == (THROUGHPUT, ("'numpy'", "1"))
            return nightly.resultslib.Measurement(benchmark, params, 60.0) if found else None

    before, after = verdicts.remeasured_pair(finding, {"c" * 40: Again()},
                                            same_commit_before=stored)
    assert before is stored and after.value == 60.0
    assert verdicts.remeasured_pair(finding, {"c" * 40: Again()}) is None  # a time_: no pair
    assert verdicts.remeasured_pair(finding, None) is None  # the run failed
