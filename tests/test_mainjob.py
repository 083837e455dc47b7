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
        ("'jax'", "'cpu'", "bench_model", False, False),
        ("'jax'", "'cpu'", "bench_fit|bench_model", False, True),
        ("'jax'", "'gpu'", "bench_fit", False, False),
    ],
)
def test_bench_selection_leaves_out_gpu_combinations_without_a_gpu(
    backend, device, user, gpu, selected
):
    name = FIT.format(backend, device)
    regexes = mainjob.bench_selection(user, gpu)
    assert (not regexes or any(re.search(r, name) for r in regexes)) is selected


def test_machine_name_says_there_is_no_gpu_here():
    assert mainjob.asvconf_machine_name().endswith("-cpu")


def test_local_repository_with_other_releases_is_not_reused(tmp_path, sdist_cache):
    repo = tmp_path / "pyhf"
    localrepo.build_local_pyhf_repo(repo, ["0.7.6"], sdist_cache)
    mainjob.ensure_local_repo(repo, ["0.7.6"])  # reused as it is
    with pytest.raises(mainjob.MainJobError, match="remove it to rebuild"):
        mainjob.ensure_local_repo(repo, ["0.7.5", "0.7.6"])
