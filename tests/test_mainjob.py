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


def test_machine_name_says_whether_there_is_a_gpu(monkeypatch):
    # NVML faked both ways, so that this holds on a GPU host and on a CPU one.
    from helpers.monitor_fakes import FakeGpu, install_fake_nvml, pynvml

    install_fake_nvml(monkeypatch, [], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    monkeypatch.delenv("PYHF_BENCH_EXPECT_GPU", raising=False)
    assert mainjob.asvconf_machine_name().endswith("-cpu")
    install_fake_nvml(monkeypatch, [FakeGpu(0)])
    assert mainjob.asvconf_machine_name().endswith("-h100-80gb-hbm3")


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
    quick = mainjob.quick_suite()
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("bench_") or info.name == "bench_scan":
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        workloads.add(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or cls.__name__.startswith("_"):
                continue
            for method in [m for m in dir(cls) if m.split("_")[0] in ("time", "track", "timeraw")]:
                for combo in itertools.product(*getattr(cls, "params", [])):
                    name = f"{info.name}.{cls.__name__}.{method}({', '.join(map(repr, combo))})"
                    if any(re.search(r, name) for r in quick):
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


def test_summary_separates_skipped_from_not_selected(tmp_path):
    from helpers.report_results import SPECS, TIME, write_results

    write_results(tmp_path, "host", "c" * 40, 1_700_000_000_000,
                  {TIME: {("numpy", "cpu", 1): 0.5, ("numpy", "cpu", 10): None}}, {TIME: SPECS[TIME]})
    selection = [r"time_hypotest\('(numpy|jax)', '(cpu|gpu)', (1|10)\)"]
    (row,) = mainjob.summary_rows(tmp_path, "host", selection)
    # 24 combinations: 8 selected (1 measured, 1 failed, 6 NaN = skipped), 16 not selected.
    assert row == {"commit": "c" * 40, mainjob.MEASURED: 1, mainjob.SKIPPED: 6,
                   mainjob.NOT_SELECTED: 16, mainjob.FAILED: 1}
    # A commit with nothing n/a among the selection has no reason lines.
    only_measured = mainjob.summarize(tmp_path, "host", [r"time_hypotest\('numpy', 'cpu', 1\)"])
    assert len(only_measured.splitlines()) == 1
    # Without a selection asv ran everything: every NaN is a skip.
    (everything,) = mainjob.summary_rows(tmp_path, "host")
    assert everything[mainjob.SKIPPED] == 22 and everything[mainjob.NOT_SELECTED] == 0
    text = mainjob.summarize(tmp_path, "host", selection)
    assert text.splitlines()[0] == ("  cccccccc      1 measured      6 skipped (n/a)     16 not "
                                    "selected in this run      1 failed")
    assert text.splitlines()[1:] == ["            n/a x6: no reason recorded"]


def test_summary_gives_the_recorded_reason_of_each_skip(tmp_path):
    import json

    from pyhfbench import results as resultslib
    from helpers.report_results import SPECS, TIME, write_results

    write_results(tmp_path, "host", "c" * 40, 1_700_000_000_000,
                  {TIME: {("numpy", "cpu", 1): 0.5}}, {TIME: SPECS[TIME]})
    (loaded,) = resultslib.load_machine(tmp_path, "host")
    folder = resultslib.skip_log_dir(tmp_path, "host")
    folder.mkdir(parents=True)
    line = {"commit": "c" * 40, "env_name": loaded.env_name,
            "benchmark_class": TIME.rsplit(".", 1)[0], "params": ["'pytorch'", "'cpu'", "1"],
            "kind": "removed", "reason": "pyhf removed the pytorch backend (PR #2611)"}
    (folder / "cccccccc-env.jsonl").write_text(json.dumps(line) + "\n")
    text = mainjob.summarize(tmp_path, "host", [r"time_hypotest\('(numpy|pytorch)', 'cpu', 1\)"])
    assert text.splitlines()[1:] == [
        "            n/a x1: pyhf removed the pytorch backend (PR #2611)"]


def test_selection_matches_labels_as_asv_does():
    label = mainjob.label_of(TIME_NAME, ("'numpy'", "'cpu'", "10"))
    assert label == "bench_baseline.HypotestUncorrelatedBackground.time_hypotest('numpy', 'cpu', 10)"
    assert mainjob.is_selected(label, [r"'numpy', 'cpu', 10\)"])  # re.search, not a full match
    assert not mainjob.is_selected(label, [r"^'numpy'"])
    assert mainjob.is_selected(label, [])
    assert mainjob.outcome_of(float("nan"), label, [r"bench_fit"]) == mainjob.NOT_SELECTED
    assert mainjob.outcome_of(float("nan"), label, [r"bench_baseline"]) == mainjob.SKIPPED


TIME_NAME = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"
