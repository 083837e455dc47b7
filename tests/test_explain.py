"""Where a slowdown's cost went: profiles of two pyhf copies, compared function by function."""

import os
import sys

import pytest

from pyhfbench import explain, gate, inject, paired

BENCH = ("benchmarks.bench_baseline", "HypotestUncorrelatedBackground", "time_hypotest",
         ["numpy", "cpu", 1])
SLOWED = "tensor/numpy_backend.py"
LOOPS = 20_000


def row(filename, line, name, self_s, incl_s, callers=(), calls=1, qualname=None):
    return [filename, line, name, qualname or name, calls, self_s, incl_s, list(callers)]


ROOT = "/x/pyhf-abc/pyhf"


def fake_profile(slow):
    """bench -> pyhf.infer.hypotest -> pdf.Model.logpdf -> numpy (sum), poisson_logpdf."""
    extra = 0.04 if slow else 0.0
    rows = [
        row("/repo/benchmarks/bench_baseline.py", 10, "time_hypotest", 0.001, 0.1 + extra),
        row(f"{ROOT}/infer/__init__.py", 20, "hypotest", 0.002, 0.099 + extra, [[0, 0.099 + extra]]),
        row(f"{ROOT}/pdf.py", 700, "logpdf", 0.01, 0.09 + extra, [[1, 0.09 + extra]],
            qualname="Model.logpdf"),
        row(f"{ROOT}/tensor/numpy_backend.py", 438, "poisson_logpdf", 0.01 + extra,
            0.02 + extra, [[2, 0.02 + extra]], qualname="numpy_backend.poisson_logpdf"),
        row("/env/lib/python3.11/site-packages/numpy/core/fromnumeric.py", 2100, "sum",
            0.05, 0.06, [[2, 0.06]]),
        row("~", 0, "<method 'reduce' of 'numpy.ufunc' objects>", 0.01, 0.01, [[4, 0.01]]),
        row("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>", 0.0, 0.0),
    ]
    return {"clock": "cpu", "pyhf_root": ROOT, "rows": rows}


def test_package_of_groups_what_is_outside_pyhf():
    assert explain.package_of(("/e/lib/python3.11/site-packages/scipy/optimize/x.py", 1, "f")) == "scipy"
    assert explain.package_of(("~", 0, "<method 'reduce' of 'numpy.ufunc' objects>")) == "numpy"
    assert explain.package_of(("~", 0, "<built-in method builtins.len>")) == "built-ins"
    assert explain.package_of(("~", 0, "<method 'append' of 'list' objects>")) == "built-ins"
    assert explain.package_of(("~", 0, "<built-in method time.process_time>")) == "built-ins"
    assert explain.package_of(("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>")) == \
        "_lsprof"  # the profiler's own: left out (HARNESS_PACKAGES)
    assert explain.package_of(
        ("~", 0, "<built-in method numpy.core._multiarray_umath.implement_array_function>")) == "numpy"
    assert explain.package_of(("/usr/lib/python3.11/copy.py", 1, "deepcopy")) == \
        "python standard library"


def test_compare_ranks_by_growth_of_own_cost_and_chains_down_from_the_benchmark():
    before = explain.median_costs([fake_profile(False)] * 3)
    after = explain.median_costs([fake_profile(True), fake_profile(True), fake_profile(False)])
    rows = explain.compare(before, after)
    assert rows[0]["function"] == "pyhf.tensor.numpy_backend.numpy_backend.poisson_logpdf"
    assert rows[0]["path"] == SLOWED and rows[0]["line"] == 438
    assert rows[0]["self_after"] == pytest.approx(0.05) and rows[0]["self_before"] == pytest.approx(0.01)
    assert all(r["function"] != "_lsprof" for r in rows)
    # numpy did not grow: not among the rows that grew
    assert "numpy" not in [r["function"] for r in rows]
    numpy = after["nodes"][("package", "numpy")]
    assert numpy["self"] == pytest.approx(0.06) and numpy["incl"] == pytest.approx(0.06)
    assert numpy["most"] == "numpy/core/fromnumeric.py:2100(sum)"
    steps = [s["function"] for s in explain.chain(before, after, rows[0]["key"])]
    assert steps == ["benchmarks (this suite)", "pyhf.infer.hypotest", "pyhf.pdf.Model.logpdf",
                     "pyhf.tensor.numpy_backend.numpy_backend.poisson_logpdf"]


def test_source_links_follow_the_commit_url_setting():
    assert explain.blob_base("https://github.com/scikit-hep/pyhf/commit/") == \
        "https://github.com/scikit-hep/pyhf/blob/"
    assert explain.blob_base("https://example.org/pyhf/commit/") == "https://example.org/pyhf/blob/"
    assert explain.blob_base(None) == explain.GITHUB_BLOB


def test_slowed_source_puts_the_loop_in_the_one_function():
    text = "class B:\n    def f(self,\n          x):  # c\n        return x\n\n    def g(self):\n        return 1\n"
    out = inject.slowed_source(text, "f", 7)
    namespace = {}
    exec(out, namespace)
    assert namespace["B"]().f(3) == 3
    assert out.index("range(7)") < out.index("return x") and out.index("range(7)") < out.index("def g")
    with pytest.raises(ValueError):
        inject.slowed_source(text, "h", 7)


@pytest.fixture
def pyhf_copies(tmp_path):
    """Two copies of the installed pyhf, the second with a loop in poisson_logpdf."""
    plain = inject.copy_pyhf(tmp_path / "plain").parent
    slow_pkg = inject.copy_pyhf(tmp_path / "slow")
    source = slow_pkg / SLOWED
    source.write_text(inject.slowed_source(source.read_text(), "poisson_logpdf", LOOPS))
    return plain, slow_pkg.parent


def sides(*installs):
    return [paired.Side(sys.executable, *BENCH[:3], BENCH[3], [path, paired.REPO_ROOT])
            for path in installs]


def test_the_explanation_names_the_slowed_function_first(pyhf_copies):
    clock, before, after = explain.profile_pair(*sides(*pyhf_copies), rounds=3)
    assert clock == "cpu"
    found = explain.explanation(before, after, clock, 3, None, "c" * 40, None)
    first = found["functions"][0]
    assert first["function"] == "pyhf.tensor.numpy_backend.numpy_backend.poisson_logpdf", \
        [r["function"] for r in found["functions"]]
    assert first["self_after"] > 2 * first["self_before"]
    assert found["chain"][-1]["function"] == first["function"]
    assert found["chain"][0]["function"] == "benchmarks (this suite)"
    assert found["total_after"] > found["total_before"]


def test_the_worker_profiles_an_instruction_workload(pyhf_copies):
    plain, _ = pyhf_copies
    side = paired.Side(sys.executable, "-", "-", "-", [], [plain, paired.REPO_ROOT],
                       workload=["prepare_baseline_hypotest", "numpy", 1])
    worker = paired.Worker(side)
    try:
        profile = worker.profile("cpu")
    finally:
        worker.close()
    assert profile["pyhf_root"] == os.path.join(str(plain), "pyhf")
    names = {r[3] for r in profile["rows"]}
    assert "hypotest" in names and "numpy_backend.poisson_logpdf" in names


def test_workload_of_an_instruction_finding():
    finding = gate.Finding(kind="more_instructions", commit="b" * 40,
                           benchmark="bench_instructions.BaselineInstructions.track_instructions",
                           params={"backend": "numpy", "device": "cpu",
                                   "workload": "baseline hypotest 10 bins"})
    assert explain.workload_of(finding) == ["prepare_baseline_hypotest", "numpy", 10]
    finding.kind = "slower"
    assert explain.workload_of(finding) is None
