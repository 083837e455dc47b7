"""No variable that the workflows mark secret reaches benchmarked code: the allow-list of
scripts/pyhfbench/childenv.py, and a real asv run started by the nightly's own launcher
(``Nightly.asv``) whose benchmark reads ``os.environ``."""

import json
import subprocess
import sys

from pyhfbench import childenv, nightly, nightly_cli
from helpers.nightly_lab import make_nightly

#: What nightly.yml used to hand the step that runs the benchmarks, and what a runner sets.
SECRETS = {
    "GH_TOKEN": "ghs_fake0000000000000000000000000000000",
    "GITHUB_TOKEN": "ghs_fake0000000000000000000000000000000",
    "PAGES_URL": "https://x-access-token:ghs_fake000000000000000000@github.com/o/r.git",
    "ACTIONS_RUNTIME_TOKEN": "fake-runtime-token",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "fake-oidc-token",
    "AWS_SECRET_ACCESS_KEY": "fake-key",
}

#: A benchmark that records the environment it runs in (the path is filled in by the test).
BENCHMARK = '''
import json
import os


def track_environ():
    with open({path!r}, "w") as out:
        json.dump(dict(os.environ), out)
    return 1
'''


def test_the_allow_list_keeps_what_builds_and_benchmarks_need_and_drops_the_rest():
    environ = {"PATH": "/bin", "HOME": "/home/x", "LC_ALL": "C.UTF-8", "PYHF_BENCH_THREADS": "2",
               "PIP_INDEX_URL": "https://pypi.example/simple", "CUDA_VISIBLE_DEVICES": "0",
               "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "OMP_NUM_THREADS": "1",
               "LD_LIBRARY_PATH": "/usr/local/cuda/lib64", "ASV_COMMIT": "abc",
               "SOME_RANDOM_SETTING": "x", **SECRETS}
    env = childenv.child_environ({"EXTRA": "set on purpose"}, environ=environ)
    assert not set(SECRETS) & set(env)
    assert "SOME_RANDOM_SETTING" not in env
    assert env["EXTRA"] == "set on purpose"
    kept = set(environ) - set(SECRETS) - {"SOME_RANDOM_SETTING"}
    assert {name: env[name] for name in kept} == {name: environ[name] for name in kept}
    assert childenv.left_out(environ) == sorted([*SECRETS, "SOME_RANDOM_SETTING"])


def test_the_nightly_child_env_is_the_allow_list_with_its_own_settings(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    run = make_nightly(tmp_path, "--quick-suite")
    env = run.child_env({"PYHF_BENCH_MACHINE": "box"})
    assert not set(SECRETS) & set(env)
    assert env["PYHF_BENCH_QUICK_SUITE"] == "1" and env["PYHF_BENCH_MACHINE"] == "box"


def test_a_benchmark_run_by_the_nightly_sees_no_secret(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYHF_BENCH_THREADS", "1")  # the project's own settings do get through
    project = tmp_path / "project"  # asv wants a repository, even for an existing environment
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "--quiet", "--allow-empty", "-m", "a commit"], check=True)
    commit = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "__init__.py").write_text("")
    seen = tmp_path / "seen.json"
    (suite / "bench_env.py").write_text(BENCHMARK.format(path=str(seen)))
    config = tmp_path / "asv.json"
    config.write_text(json.dumps({
        "version": 1, "project": "env-probe", "repo": str(project), "branches": ["main"],
        "environment_type": "virtualenv", "benchmark_dir": str(suite),
        "results_dir": str(tmp_path / "asv-results"), "html_dir": str(tmp_path / "asv-html"),
        "env_dir": str(tmp_path / "asv-env")}))
    run = make_nightly(tmp_path, "--machine-file", str(tmp_path / "machine.json"), "--quiet-asv")
    assert run.asv("machine", "--yes", "--config", config, "--machine", run.machine) == 0
    status = run.asv("run", "--config", config, "--machine", run.machine,
                     "--environment", f"existing:{sys.executable}", "--set-commit-hash", commit,
                     "--no-pull", "--quick", "--show-stderr", "--bench", "track_environ")
    assert status == 0, run.log.path.read_text()[-3000:]
    environ = json.loads(seen.read_text())
    assert not set(SECRETS) & set(environ), sorted(set(SECRETS) & set(environ))
    assert not any(value in text for value in SECRETS.values() for text in environ.values())
    assert environ["PYHF_BENCH_THREADS"] == "1"


def test_a_credential_in_a_remote_url_is_refused(tmp_path, capsys):
    assert nightly.credential_in_url("https://x-access-token:ghs_abc@github.com/o/r.git")
    assert nightly.credential_in_url("https://ghp_abc@github.com/o/r.git")
    assert not nightly.credential_in_url("https://github.com/o/r.git")
    assert not nightly.credential_in_url("git@github.com:o/r.git")
    assert not nightly.credential_in_url("ssh://git@github.com/o/r.git")
    try:
        nightly_cli.main(["--push-html", SECRETS["PAGES_URL"], "--workdir", str(tmp_path)])
    except SystemExit as exit:
        assert exit.code == 2
    else:
        raise AssertionError("a token on the command line was accepted")
    assert "credential helper or --push-credential-file" in capsys.readouterr().err
