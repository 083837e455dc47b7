"""The main job's pieces that do not need an asv run (that is tests/test_suite_e2e.py)."""

import re

import pytest

from pyhfbench import localrepo, mainjob

FIT = "bench_fit.MaximumLikelihoodFit.time_unconditional_fit({}, {}, 'scipy', 'staus')"


@pytest.mark.parametrize(
    "backend, device, user, gpu, selected",
    [
        ("'numpy'", "'cpu'", None, False, True),
        ("'jax'", "'gpu'", None, False, False),
        ("'jax'", "'gpu'", None, True, True),
        ("'jax'", "'cpu'", ["bench_model"], False, False),
        ("'jax'", "'cpu'", ["bench_fit|bench_model"], False, True),
        ("'jax'", "'cpu'", ["bench_model", "bench_fit"], False, True),
        ("'jax'", "'gpu'", ["bench_fit"], False, False),
    ],
)
def test_bench_selection_leaves_out_gpu_combinations_without_a_gpu(
    backend, device, user, gpu, selected
):
    name = FIT.format(backend, device)
    regexes = mainjob.bench_selection(user or (), gpu)
    assert (not regexes or any(re.search(r, name) for r in regexes)) is selected


def test_machine_name_says_there_is_no_gpu_here():
    assert mainjob.asvconf_machine_name().endswith("-cpu")


def test_local_repository_with_other_releases_is_not_reused(tmp_path, sdist_cache):
    repo = tmp_path / "pyhf"
    localrepo.build_local_pyhf_repo(repo, ["0.7.6"], sdist_cache)
    mainjob.ensure_local_repo(repo, ["0.7.6"])  # reused as it is
    with pytest.raises(mainjob.MainJobError, match="remove it to rebuild"):
        mainjob.ensure_local_repo(repo, ["0.7.5", "0.7.6"])


def test_quick_suite_selects_a_slice_of_every_workload():
    import importlib
    import inspect
    import itertools
    import pkgutil

    import benchmarks

    selected, workloads = set(), set()
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("bench_") or info.name in ("bench_root", "bench_scan"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        workloads.add(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or cls.__name__.startswith("_"):
                continue
            for method in [m for m in dir(cls) if m.split("_")[0] in ("time", "track", "timeraw")]:
                for combo in itertools.product(*getattr(cls, "params", [])):
                    name = f"{info.name}.{cls.__name__}.{method}({', '.join(map(repr, combo))})"
                    if any(re.search(r, name) for r in mainjob.QUICK_SUITE):
                        selected.add(name)
    assert {name.split(".")[0] for name in selected} == workloads
    assert 40 < len(selected) < 150
    assert not any("'gpu'" in name for name in selected)


def test_by_module_runs_each_module_once_with_its_part_of_the_selection():
    names = [FIT.format("'numpy'", "'cpu'"), FIT.format("'numpy'", "'gpu'"),
             "bench_model.Logpdf.time_logpdf('numpy', 'cpu', 'staus')"]
    assert mainjob.run_plan([]) == [("suite", [])]
    plan = dict(mainjob.run_plan([], by_module=True))
    assert list(plan) == mainjob.benchmark_modules() and "bench_fit" in plan

    def chosen(regexes, gpu=False):
        return [n for n in names if any(re.search(r, n) for r in mainjob.bench_selection(regexes, gpu))]

    assert chosen(plan["bench_fit"]) == names[:1]  # its module, no GPU combination here
    assert chosen(plan["bench_fit"], gpu=True) == names[:2]
    assert chosen(plan["bench_model"]) == names[2:]
    only_logpdf = dict(mainjob.run_plan([r"\.Logpdf\."], by_module=True))
    assert chosen(only_logpdf["bench_model"]) == names[2:] and chosen(only_logpdf["bench_fit"]) == []


def git(*args, cwd):
    import subprocess

    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def one_commit_repo(path, content):
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    (path / "file").write_text(content)
    git("add", "file", cwd=path)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", content, cwd=path)
    git("tag", "v0.7.6", cwd=path)
    return git("rev-parse", "HEAD", cwd=path)


@pytest.mark.parametrize("how", ["retagged", "rebuilt"])
def test_asv_clones_follow_a_rebuilt_local_repository(tmp_path, how):
    """After the local repository is rebuilt (same tag, new commit), asv's clone must not
    keep the old tag: pyhf built there would have no release tag (version 0.1.devN)."""
    repo = tmp_path / "pyhf"
    one_commit_repo(repo, "first")
    clone = tmp_path / "env" / "abc" / "project"
    git("clone", "-q", "--shared", str(repo), str(clone), cwd=tmp_path)
    other = tmp_path / "env" / "def" / "project"  # a clone of another repository is left alone
    one_commit_repo(tmp_path / "elsewhere", "other")
    git("clone", "-q", str(tmp_path / "elsewhere"), str(other), cwd=tmp_path)
    if how == "retagged":
        (repo / "file").write_text("second")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "second", cwd=repo)
        git("tag", "-f", "v0.7.6", cwd=repo)
        new = git("rev-parse", "HEAD", cwd=repo)
    else:
        import shutil

        shutil.rmtree(repo)
        new = one_commit_repo(repo, "rebuilt")
    for env in ("abc", "def"):  # what asv keeps per environment: built wheels, installed commit
        (tmp_path / "env" / env / "asv-build-cache").mkdir()
        (tmp_path / "env" / env / "asv-install-status.json").write_text("{}")
    mainjob.refresh_asv_clones(tmp_path / "env", repo)
    # the stale environment builds and installs pyhf again; the other keeps its wheels
    assert not (tmp_path / "env" / "abc" / "asv-build-cache").exists()
    assert not (tmp_path / "env" / "abc" / "asv-install-status.json").exists()
    assert (tmp_path / "env" / "def" / "asv-build-cache").exists()
    assert (tmp_path / "env" / "def" / "asv-install-status.json").exists()
    (tmp_path / "env" / "abc" / "asv-build-cache").mkdir()  # asv's next build
    mainjob.refresh_asv_clones(tmp_path / "env", repo)  # up to date now: nothing to remove
    assert (tmp_path / "env" / "abc" / "asv-build-cache").exists()
    if clone.exists():  # fetched: the tag moved with the repository
        assert git("rev-parse", "v0.7.6^{commit}", cwd=clone) == new
    else:  # could not fetch (its shared objects were deleted): removed for asv to clone anew
        assert how == "rebuilt"
    assert how == "rebuilt" or clone.exists()
    assert other.exists() and git("log", "-1", "--format=%s", cwd=other) == "other"

