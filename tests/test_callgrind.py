"""The instruction-count lane: exact counts of one call under callgrind (needs valgrind and cc)."""

import os
import shutil

import pytest

from benchmarks import bench_instructions
from benchmarks.support import callgrind, instruction_workloads

needs_valgrind = pytest.mark.skipif(callgrind.unavailable_reason() is not None,
                                    reason=str(callgrind.unavailable_reason()))


@needs_valgrind
def test_same_call_counts_the_same_and_twice_the_work_about_twice(tmp_path):
    library = callgrind.build_library(tmp_path)
    counts = callgrind.count({
        "once": ["prepare_python_loop", 100_000],
        "again": ["prepare_python_loop", 100_000],
        "double": ["prepare_python_loop", 200_000],
    }, library=library)
    assert all(isinstance(v, int) for v in counts.values()), counts
    assert abs(counts["again"] / counts["once"] - 1) < 0.005
    assert 1.8 < counts["double"] / counts["once"] < 2.2
    # Only the call is counted: the interpreter's start-up alone is hundreds of millions.
    assert counts["once"] < 150_000_000


@needs_valgrind
def test_a_crashing_workload_is_an_error_and_the_others_still_count(tmp_path):
    counts = callgrind.count({"bad": ["prepare_python_loop", "not a number"],
                              "good": ["prepare_python_loop", 1000]},
                             library=callgrind.build_library(tmp_path))
    assert "TypeError" in counts["bad"]["error"]
    assert isinstance(counts["good"], int)


@needs_valgrind
def test_the_child_takes_an_extra_environment_but_keeps_the_fixed_conditions(tmp_path):
    """The bisection puts another pyhf first on PYTHONPATH: a module found only there is counted."""
    (tmp_path / "elsewhere.py").write_text(
        "import os\n"
        "def prepare():\n"
        "    assert os.environ['PYTHONHASHSEED'] == '0'\n"
        "    return lambda: sum(i * i for i in range(1000))\n")
    counts = callgrind.count({"there": ["prepare"]}, module="elsewhere",
                             library=callgrind.build_library(tmp_path),
                             env={"PYTHONPATH": str(tmp_path), "PYTHONHASHSEED": "1"})
    assert isinstance(counts["there"], int), counts


def test_without_valgrind_the_lane_is_na_with_the_reason(tmp_path, monkeypatch):
    python_only = tmp_path / "bin"
    python_only.mkdir()
    monkeypatch.setenv("PATH", str(python_only))
    reason = callgrind.unavailable_reason()
    assert reason and "valgrind is not installed" in reason
    cache = bench_instructions.count_all(bench_instructions.BaselineInstructions.names)
    lane = bench_instructions.BaselineInstructions()
    with pytest.raises(NotImplementedError, match="valgrind is not installed"):
        lane.setup(cache, "numpy", "cpu", "baseline hypotest 1 bins")


def test_without_a_compiler_the_lane_is_na_with_the_reason(tmp_path, monkeypatch):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind missing: the valgrind reason comes first")
    only = tmp_path / "bin"
    only.mkdir()
    os.symlink(shutil.which("valgrind"), only / "valgrind")
    monkeypatch.setenv("PATH", str(only))
    monkeypatch.setattr(callgrind.sysconfig, "get_config_var", lambda name: None)
    with pytest.raises(callgrind.Unavailable, match="no C compiler"):
        callgrind.build_library(tmp_path / "cache")


def test_a_workload_error_fails_the_track_never_na():
    lane = bench_instructions.BaselineInstructions()
    name = "baseline hypotest 1 bins"
    lane.setup({("numpy", name): {"error": "ValueError: boom"}}, "numpy", "cpu", name)
    with pytest.raises(RuntimeError, match="boom"):
        lane.track_instructions({}, "numpy", "cpu", name)
    lane.setup({("numpy", name): 123}, "numpy", "cpu", name)
    assert lane.track_instructions({}, "numpy", "cpu", name) == 123


def test_every_workload_has_a_prepare_function_and_a_time_benchmark():
    import importlib

    for name, (time_benchmark, extra) in instruction_workloads.WORKLOADS.items():
        function, *arguments = instruction_workloads.spec("numpy", name)
        assert callable(getattr(instruction_workloads, function)), name
        module, cls, method = time_benchmark.split(".")
        assert method.startswith("time_")
        assert hasattr(getattr(importlib.import_module(f"benchmarks.{module}"), cls), method)
    lanes = [bench_instructions.FitInstructions,
             bench_instructions.ModelInstructions,
             bench_instructions.InterpolationInstructions, bench_instructions.BaselineInstructions]
    assert sorted(n for lane in lanes for n in lane.names) == sorted(instruction_workloads.WORKLOADS)


def test_parse_reads_the_totals_not_the_zeroed_summary(tmp_path):
    (tmp_path / "callgrind.out.1").write_text(
        "desc: Trigger: Client Request: hypotest x\nevents: Ir\nsummary: 0\n\nfn=(1) f\n0 3\n"
        "totals: 5626612071\n")
    (tmp_path / "callgrind.out").write_text("desc: Trigger: Program termination\ntotals: 0\n")
    assert callgrind.parse_dumps(tmp_path, "callgrind.out") == {"hypotest x": 5626612071}


def test_jax_is_na_with_the_measured_reason():
    lane = bench_instructions.InterpolationInstructions()
    with pytest.raises(NotImplementedError, match="not stable enough"):
        lane.setup({}, "jax", "cpu", "interpolation code 0")


def test_a_selection_counts_only_the_matching_workloads(monkeypatch):
    counted = []
    monkeypatch.setattr(callgrind, "build_library", lambda *a, **k: "lib.so")
    monkeypatch.setattr(callgrind, "count", lambda specs, **kw: counted.append(specs) or {
        name: 7 for name in specs})
    monkeypatch.setenv(bench_instructions.SELECT_ENV, "10 bins$")
    names = bench_instructions.BaselineInstructions.names
    cache = bench_instructions.count_all(names)
    assert [list(c) for c in counted] == [["baseline hypotest 10 bins"]]
    assert cache[("numpy", "baseline hypotest 10 bins")] == 7
    lane = bench_instructions.BaselineInstructions()
    with pytest.raises(NotImplementedError, match="not selected for counting"):
        lane.setup(cache, "numpy", "cpu", "baseline hypotest 50 bins")
    monkeypatch.setenv(bench_instructions.SELECT_ENV, "no such workload")
    counted.clear()
    assert bench_instructions.count_all(names)[("numpy", "baseline hypotest 1 bins")]["skip"]
    assert counted == []
