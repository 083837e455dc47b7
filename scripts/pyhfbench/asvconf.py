"""Derive an asv configuration from the committed asv.conf.json.

The committed configuration measures pyhf ``main`` from GitHub with the CPU
backends. To point the same suite at another pyhf repository (a local mirror,
a fork) or another set of requirements (CUDA builds on a GPU host, the
NumPy 1 environment old releases need), write a derived configuration under
``.asv/`` and pass it to asv with ``--config``. Nothing committed is edited.
"""

import hashlib
import json
import os
import subprocess
from pathlib import Path

from . import stack as stacklib
from .support import settings, support_module

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED_CONFIG = REPO_ROOT / "asv.conf.json"
#: Bare mirrors of local working-tree repositories (see ``asv_repository``).
MIRRORS_DIR = REPO_ROOT / ".asv" / "mirrors"


#: The local stand-in for HEPData beside a checkout (see pallets/README.md).
LOCAL_PALLET_MIRROR = REPO_ROOT.parent / "shared" / "pallets"
PALLET_MIRROR_ENV = settings.PALLET_MIRROR


def select_pallet_mirror(explicit=None, environ=os.environ):
    """The pallet mirror the benchmarks read (set in ``environ``), or None: HEPData by DOI.

    ``explicit``, else ``$PYHF_BENCH_PALLET_MIRROR``, else ../shared/pallets where it exists.
    """
    from_env = settings.pallet_mirror(environ)
    chosen = explicit or (str(from_env) if from_env else None) or (
        str(LOCAL_PALLET_MIRROR) if LOCAL_PALLET_MIRROR.is_dir() else None)
    if chosen:
        environ[PALLET_MIRROR_ENV] = str(Path(chosen).resolve())
    return chosen


class RepositoryError(ValueError):
    pass


def asv_repository(repo, mirrors_dir=MIRRORS_DIR):
    """What asv should read for ``repo``: URLs and bare repositories as they are, a local
    working tree through a bare mirror of it, refreshed on every call.

    asv uses a local repository in place and runs ``git rev-list -n 1 <tag>`` there: in a
    working tree of pyhf, the tag ``binder`` is also the folder ``binder/``, so git refuses
    the ambiguous name and ``asv publish`` fails. A bare mirror has no work tree to clash.
    """
    local = Path(repo).expanduser()
    if not local.exists():
        return str(repo)
    local = local.resolve()
    if not (local / ".git").exists():
        return str(local)  # bare already
    name = f"{local.name}-{hashlib.sha256(str(local).encode()).hexdigest()[:8]}.git"
    mirror = Path(mirrors_dir) / name
    if (mirror / "HEAD").exists():
        command = ["git", "-C", str(mirror), "fetch", "--quiet", "--prune", "--force",
                   "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
    else:
        mirror.parent.mkdir(parents=True, exist_ok=True)
        command = ["git", "clone", "--quiet", "--mirror", str(local), str(mirror)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RepositoryError(f"cannot mirror the pyhf repository {local} into {mirror}: "
                              f"{result.stderr.strip()}")
    return str(mirror)

#: Requirement sets for asv's matrix, by name. "cpu" is the committed default.
MATRIX_PRESETS = {
    "cpu": None,
    # What a user of pyhf main installs today: its two backends, newest releases, newest
    # Python (scripts/main-job's and scripts/nightly's default, pinned per night: stack.py).
    "current": stacklib.CURRENT_MATRIX,
    # Just enough to run the numpy backend (and show the others as skipped).
    "numpy": {
        "numpy": [""], "scipy": [""], "iminuit": [""], "threadpoolctl": [""],
        "psutil": [""], "nvidia-ml-py": [""],
    },
    # CI's end-to-end test: numpy and the local CPU build of torch.
    "numpy-torch": {
        "numpy": [""], "scipy": [""], "threadpoolctl": [""], "psutil": [""],
        "nvidia-ml-py": [""], "torch": ["2.13.0"],
    },
    # GPU hosts: CUDA builds of jax and torch, tensorflow with its CUDA extra.
    "cuda": {
        "numpy": [""], "scipy": [""], "iminuit": [""], "threadpoolctl": [""],
        "psutil": [""], "nvidia-ml-py": [""], "matplotlib": [""], "distributed": [""],
        "jax[cuda12]": [""], "torch": [""],
        "tensorflow[and-cuda]": ["2.21.0"], "tensorflow-probability": ["0.25.0"],
        "tf-keras": ["2.21.0"],
    },
    # pyhf v0.6.0 to v0.7.2 call np.product, removed in NumPy 2; up to v0.7.5 the jax
    # backend imports the jax.config module, removed in JAX 0.4.25.
    # Every package that would pull NumPy 2 is pinned too (iminuit 2.33, matplotlib 3.11 and
    # ml_dtypes 0.7 did: asv installs the requirements one by one, in this order).
    "legacy": {
        "numpy": ["1.26.4"], "scipy": ["1.11.4"], "iminuit": ["2.27.0"], "threadpoolctl": [""],
        "psutil": [""], "nvidia-ml-py": [""], "matplotlib": ["3.8.4"],
        # Before jax: asv installs in this order, and jax's latest ml_dtypes needs NumPy 2.
        # (scipy 1.11: jax 0.4.23 calls scipy.linalg.tril, which scipy 1.13 removed.)
        "ml_dtypes": ["0.3.2"],
        "jax": ["0.4.23"], "jaxlib": ["0.4.23"], "torch": ["2.13.0"],
    },
}


def has_branch(repo, branch):
    """Whether the local repository ``repo`` has the branch ``branch``."""
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet",
                           f"refs/heads/{branch}"], capture_output=True).returncode == 0


#: The asv_runner the suite was written for (asv.conf.json pins it in every environment):
#: its sampling (setup before every timed call, asv#966) is what the benchmarks size for.
ASV_RUNNER_PIN = "0.3.2"
#: Presets that put a GPU build in the environment: CUDA needs spawn.
GPU_PRESETS = ("cuda",)


def host_has_gpu():
    """Whether this host has (or is meant to have) an NVIDIA GPU; NVML trouble counts as one."""
    backends, gpus = support_module("backends"), support_module("gpus")
    try:
        return settings.gpu_expected() or backends.nvidia_gpu_count() > 0
    except gpus.GpuTrouble:
        return True


def launch_method_for(matrix=None, gpu=None):
    """``spawn`` where CUDA may be initialised (a GPU host or a CUDA preset: CUDA cannot start
    in a forked process), else ``forkserver``: one interpreter per environment and commit
    imports the frameworks, and every benchmark process is a fork of it."""
    if matrix in GPU_PRESETS:
        return "spawn"
    if gpu is None:
        gpu = host_has_gpu()
    return "spawn" if gpu else "forkserver"


def load_committed_config(path=COMMITTED_CONFIG):
    from asv.util import load_json

    return load_json(str(path), js_comments=True)


def derive_config(repo=None, branches=None, matrix=None, results_dir=None, html_dir=None,
                  env_dir=None, base=None, launch_method="auto", gpu=None, stack=None):
    """The committed configuration with the given overrides; paths made absolute.

    ``repo`` is a URL or a local path, ``matrix`` a preset name from
    MATRIX_PRESETS or a dict of requirements. ``launch_method`` "auto" is
    ``launch_method_for(matrix, gpu)`` (``gpu`` None: ask this host). ``stack`` (a
    ``stack.Stack``) sets the Python and pins its packages in the matrix.
    """
    preset = matrix if isinstance(matrix, str) else None
    config = dict(base or load_committed_config())
    if repo is not None:
        config["repo"] = asv_repository(repo)
        if not branches and Path(config["repo"]).exists():
            # A local repository may hold main alone (a fork, a clone): asv refuses
            # configured branches it cannot find, so keep the committed ones it has.
            config["branches"] = [b for b in config["branches"]
                                  if has_branch(config["repo"], b)] or config["branches"][:1]
    if branches:
        config["branches"] = list(branches)
    if matrix is not None:
        if isinstance(matrix, str):
            if matrix not in MATRIX_PRESETS:
                raise ValueError(
                    f"unknown matrix preset {matrix!r}; known: {', '.join(MATRIX_PRESETS)}"
                )
            matrix = MATRIX_PRESETS[matrix]
        if matrix is not None:
            config["matrix"] = {"req": {**dict(matrix), **asv_runner_requirement()}}
    if stack is not None:
        config["pythons"] = [stack.python]
        config["matrix"] = {"req": stack.matrix(config["matrix"]["req"])}
    if launch_method == "auto":
        launch_method = launch_method_for(preset, gpu)
    if launch_method is not None:
        config["launch_method"] = launch_method
    for key, value in (("results_dir", results_dir), ("html_dir", html_dir),
                       ("env_dir", env_dir)):
        if value is not None:
            config[key] = value
    # A derived file lives elsewhere, so every path in it must be absolute; symlinks stay
    # unresolved: the nightly's html/ is a link it swaps to a new folder every night.
    for key in ("benchmark_dir", "env_dir", "results_dir", "html_dir"):
        config[key] = os.path.abspath(os.path.join(REPO_ROOT, os.path.expanduser(config[key])))
    return config


def matrix_requirements(matrix=None, base=None):
    """asv's matrix ``req`` of preset ``matrix`` (None or "cpu": the committed one)."""
    preset = MATRIX_PRESETS[matrix] if matrix else None
    if preset is None:
        return dict((base or load_committed_config())["matrix"]["req"])
    return {**dict(preset), **asv_runner_requirement()}


def committed_python(base=None):
    """The Python the committed configuration names (the matrix presets were written for it)."""
    return (base or load_committed_config())["pythons"][0]


def asv_runner_requirement():
    """The matrix entry that pins asv_runner: asv replaces its own unpinned base requirement
    with it and leaves it out of the environment's name (results keep their names)."""
    return {"pip+asv_runner": [ASV_RUNNER_PIN]}


def write_config(config, dest):
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=4) + "\n")
    tmp.replace(dest)
    return dest


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/asvconf",
        description="Write an asv configuration derived from asv.conf.json "
        "(another pyhf repository, branch or requirement set).",
    )
    parser.add_argument("--repo", help="pyhf repository: URL or local path")
    parser.add_argument("--branch", action="append", dest="branches",
                        help="branch to benchmark (repeatable)")
    parser.add_argument("--matrix", help=f"requirement preset: {', '.join(MATRIX_PRESETS)}")
    parser.add_argument("--results-dir")
    parser.add_argument("--html-dir")
    parser.add_argument("--env-dir")
    parser.add_argument("--launch-method", default="auto", choices=["auto", "spawn", "forkserver"],
                        help="asv launch_method (default auto: spawn on a GPU host or with the cuda "
                        "preset, forkserver elsewhere)")
    parser.add_argument("--stack", metavar="FILE",
                        help="pin the stack: name==version lines (python==3.N for the Python); "
                        "what it leaves out takes the newest release (pip resolves it)")
    parser.add_argument("--output", default=str(REPO_ROOT / ".asv" / "asv.local.json"),
                        help="where to write it (default: .asv/asv.local.json)")
    args = parser.parse_args(argv)
    try:
        stack, python = None, None
        if args.stack:
            stack, python = stacklib.choose(matrix_requirements(args.matrix), args.stack,
                                            python=committed_python())
        config = derive_config(args.repo, args.branches, args.matrix, args.results_dir,
                               args.html_dir, args.env_dir, launch_method=args.launch_method,
                               stack=stack)
    except ValueError as err:  # RepositoryError and StackError too
        parser.error(str(err))
    dest = write_config(config, args.output)
    print(dest)
    if stack is not None:
        import sys

        print(f"stack: {stack.describe()}; asv finds python{stack.python} on PATH: "
              f"export PATH={Path(python).parent}:$PATH", file=sys.stderr)
    return 0
