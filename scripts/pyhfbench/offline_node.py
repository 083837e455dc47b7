"""Benchmark the pyhf wheels of a wheelhouse on an offline node, over the host's frameworks.

For each commit of the wheelhouse (``wheelhouse.py``): a fresh virtualenv at
one fixed path, created by the host Python with ``--system-site-packages``
and a ``.pth`` file naming the host's site-packages (so a host that is itself
a venv or a conda environment is layered over too), the support wheels
the host lacks (``--no-index``), then the pyhf wheel (``--no-index
--no-deps --ignore-installed``: it shadows any pyhf of the host). asv then
runs in that environment as an ``existing`` one with ``--set-commit-hash``:
ordinary asv results for that commit, under the machine named with its GPU
model, and one environment name for every commit (the path is fixed), so
publish and the gate read them like any other. Nothing of the host changes.
Why this and not asv's own environments: docs/gpu-hosts.md.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import asvconf, childenv, wheelhouse
from . import results as resultslib
from .support import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
ASVCALL = Path(__file__).resolve().with_name("asvcall.py")
HOST_PTH = "_pyhf_bench_host.pth"


class NodeError(RuntimeError):
    pass


def _run(command, what, **kwargs):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise NodeError(f"{what} failed (status {result.returncode}): "
                        f"{(result.stderr or result.stdout).strip()[-2000:]}")
    return result.stdout


def site_packages(python):
    """The site-packages folders of ``python`` (a venv's own, not its base's)."""
    out = _run([python, "-c", "import json, site; print(json.dumps(site.getsitepackages()))"],
               f"{python}: listing site-packages")
    return json.loads(out)


def create_commit_env(host_python, env_dir, wheelhouse_dir, entry, manifest):
    """A fresh environment at ``env_dir`` over the host's packages with pyhf of ``entry``;
    returns its Python. Checks that pyhf imports from it at the manifest's version."""
    env_dir, wheelhouse_dir = Path(env_dir), Path(wheelhouse_dir)
    if env_dir.exists():
        shutil.rmtree(env_dir)
    host_site = site_packages(host_python)
    _run([host_python, "-m", "venv", "--system-site-packages", env_dir], "creating the venv")
    python = env_dir / "bin" / "python"
    own_site = Path(site_packages(python)[0])
    # After the env's own folder on sys.path: the env's pyhf shadows the host's.
    (own_site / HOST_PTH).write_text("\n".join(host_site) + "\n")
    support = [wheelhouse_dir / item["wheel"] for item in manifest.get("support", [])]
    if support:
        # Only what the host lacks is installed; the host's own builds stay in use.
        names = sorted({Path(w).name.split("-")[0] for w in support})
        _run([python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
              wheelhouse_dir / wheelhouse.SUPPORT_FOLDER, *names], "installing the support wheels")
    _run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
          "--ignore-installed", wheelhouse_dir / entry["wheel"]], f"installing {entry['wheel']}")
    out = _run([python, "-c", "import json, pyhf, asv_runner; print(json.dumps("
                "[pyhf.__version__, pyhf.__file__]))"], "importing pyhf in the commit's env")
    version, location = json.loads(out)
    if version != entry["version"] or not Path(location).resolve().is_relative_to(env_dir.resolve()):
        raise NodeError(f"pyhf {version} from {location} is importable, not the wheel's "
                        f"{entry['version']} in {env_dir}")
    return python


def committed_config():
    """asv.conf.json read without asv, which the node's own Python lacks (whole-line // comments
    are all it has beyond JSON)."""
    text = asvconf.COMMITTED_CONFIG.read_text()
    return json.loads("\n".join(line for line in text.splitlines()
                                if not line.lstrip().startswith("//")))


def node_config(wheelhouse_dir, manifest, commit, results_dir, html_dir, env_dir):
    """The committed asv configuration pointed at the wheelhouse's repository and results,
    its one branch at ``commit``: asv takes no range with an existing environment and runs
    the heads of the branches (each recorded as --set-commit-hash)."""
    branches = [f"wheelhouse/{commit[:8]}"]
    return asvconf.derive_config(base=committed_config(),
                                 repo=str(Path(wheelhouse_dir).resolve() / manifest["repository"]),
                                 branches=branches, results_dir=str(results_dir),
                                 html_dir=str(html_dir), env_dir=str(env_dir))


def select_entries(manifest, revisions=None):
    """The manifest's entries for ``revisions`` (names as built, or hash prefixes); all if None."""
    if not revisions:
        return list(manifest["pyhf"])
    chosen = []
    for revision in revisions:
        found = [e for e in manifest["pyhf"]
                 if revision == e["revision"] or (len(revision) >= 7 and e["commit"].startswith(revision))]
        if not found:
            known = ", ".join(f"{e['revision']} ({e['commit'][:8]})" for e in manifest["pyhf"])
            raise NodeError(f"{revision!r} is not in the wheelhouse; it holds: {known}")
        chosen.extend(found)
    return chosen


def existing_env_name(python):
    """The name asv gives the existing environment of ``python`` (its results files carry it)."""
    return "existing-py" + os.path.abspath(str(python)).replace(os.path.sep, "_")


def asv_command(python, machine_file, *args):
    return [str(python), str(ASVCALL), str(machine_file or "-"), *args]


def run_node(wheelhouse_dir, workdir, results_dir, machine, host_python=sys.executable,
             revisions=None, bench=(), quick=True, machine_file=None, expect_gpu=False,
             extra_env=None, log=print):
    """Benchmark each selected commit of the wheelhouse; return {commit: asv status} and the
    GPU trouble the benchmarks recorded (reasons; empty when none)."""
    workdir, results_dir = Path(workdir).resolve(), Path(results_dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = wheelhouse.verify(wheelhouse_dir)
    entries = select_entries(manifest, revisions)
    env_dir = workdir / "env"
    trouble_file = workdir / "gpu-trouble.jsonl"
    trouble_file.unlink(missing_ok=True)
    env = childenv.child_environ(extra_env)
    env.update(resultslib.run_context_env(results_dir, machine, bench))
    env[settings.GPU_TROUBLE_FILE] = str(trouble_file)
    if expect_gpu:
        env[settings.EXPECT_GPU] = "1"
    statuses = {}
    for entry in entries:
        label = f"{entry['commit'][:8]} ({entry['revision']}, pyhf {entry['version']})"
        log(f"== {label}: environment over {host_python}")
        python = create_commit_env(host_python, env_dir, wheelhouse_dir, entry, manifest)
        config = asvconf.write_config(
            node_config(wheelhouse_dir, manifest, entry["commit"], results_dir, workdir / "html",
                        workdir / "asv-env"), workdir / "asv.json")
        _run(asv_command(python, machine_file, "machine", "--yes", "--machine", machine,
                         "--config", config), "asv machine", cwd=REPO_ROOT, env=env)
        args = ["run", "--machine", machine, "--environment", f"existing:{python}",
                "--set-commit-hash", entry["commit"], "--no-pull", "--show-stderr",
                *(["--quick"] if quick else []),
                *[a for regex in bench for a in ("--bench", regex)],
                "--config", str(config)]
        log(f"$ asv {' '.join(args)}")
        # asv sets neither for an existing environment; skip records and utilization series
        # are filed by them.
        commit_env = dict(env, ASV_COMMIT=entry["commit"], ASV_ENV_NAME=existing_env_name(python))
        status = subprocess.run(asv_command(python, machine_file, *args), cwd=REPO_ROOT,
                                env=commit_env).returncode
        statuses[entry["commit"]] = status
    trouble = []
    if trouble_file.is_file():
        trouble = sorted({json.loads(line)["reason"] for line in trouble_file.read_text().splitlines()
                          if line.strip()})
    return statuses, trouble


def default_machine():
    from . import mainjob

    return mainjob.asvconf_machine_name()


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/offline-bench",
        description="On an offline node: benchmark the pyhf wheels of a wheelhouse (built by "
        "scripts/gpu-wheels) against the frameworks installed on this host (docs/gpu-hosts.md).")
    parser.add_argument("--wheelhouse", required=True)
    parser.add_argument("--results-dir", default=str(REPO_ROOT / "results"))
    parser.add_argument("--workdir", default=str(REPO_ROOT / ".asv" / "offline-node"))
    parser.add_argument("--host-python", default=sys.executable,
                        help="the host's Python with its frameworks (default: this one)")
    parser.add_argument("--machine", help="asv machine name (default: <host>-<GPU model>)")
    parser.add_argument("--machine-file", help="asv's machine file (default: ~/.asv-machine.json)")
    parser.add_argument("--revision", action="append", dest="revisions",
                        help="only this commit of the wheelhouse (name as built or hash; repeatable)")
    parser.add_argument("--bench", action="append", default=[], help="asv --bench regex (repeatable)")
    parser.add_argument("--full", action="store_true", help="asv's full sampling (default: --quick)")
    parser.add_argument("--expect-gpu", action="store_true",
                        help="no GPU, or a framework that cannot reach it, fails (default: when "
                        "the machine name carries a GPU model)")
    args = parser.parse_args(argv)
    from . import machines

    try:
        machine = args.machine or default_machine()
        statuses, trouble = run_node(
            args.wheelhouse, args.workdir, args.results_dir, machine, args.host_python,
            args.revisions, args.bench, not args.full, args.machine_file,
            args.expect_gpu or machines.name_says_gpu(machine))
    except (NodeError, wheelhouse.WheelhouseError) as err:
        print(f"offline-bench: {err}", file=sys.stderr)
        return 2
    for reason in trouble:
        print(f"offline-bench: GPU trouble: {reason}", file=sys.stderr)
    print(f"Results: {Path(args.results_dir) / machine}")
    for commit, status in statuses.items():
        print(f"  {commit[:8]}: asv status {status}")
    if trouble:
        return 2
    return 0 if all(status == 0 for status in statuses.values()) else 1
