"""asv results files for the report's tests, written with asv's own ``Results`` class: a GPU
host's suite (``SPECS``), its benchmark names, two commits and ``write_results``.
tests/test_report.py, test_report_lanes.py and test_mainjob.py use them."""

import datetime
import itertools
import json
from pathlib import Path

NAN = float("nan")
BASE = "bench_baseline.HypotestUncorrelatedBackground"
TIME = f"{BASE}.time_hypotest"
TRACK = f"{BASE}.track_cls_obs"
PEAK = "bench_model.BuildModel.peakmem_build_model"
UTIL = "bench_utilization.FitUtilization.track_cpu_percent"
SCAN = "bench_scan.PalletScan.track_patches_per_second"
NEW, OLD = "a" * 40, "b" * 40


def benchmark_spec(name, param_names, params, kind, unit):
    """One benchmark as asv's discovery writes it in benchmarks.json (params as reprs)."""
    return {"name": name, "param_names": param_names,
            "params": [[repr(v) for v in values] for values in params],
            "type": kind, "unit": unit, "version": "1"}


def write_results(results_dir, machine, commit, date, values_by_name, specs,
                  requirements=None, env="virtualenv-py3.11-test"):
    """One asv results file: ``values_by_name[name]`` maps a combination to its value."""
    from asv import runner
    from asv.results import Results

    results_dir = Path(results_dir)
    (results_dir / machine).mkdir(parents=True, exist_ok=True)
    (results_dir / machine / "machine.json").write_text(json.dumps(
        {"machine": machine, "num_cpu": "2", "cpu": "Test CPU", "version": 1}))
    known = json.loads((results_dir / "benchmarks.json").read_text()) \
        if (results_dir / "benchmarks.json").is_file() else {"version": 2}
    known.update(specs)  # the whole suite, as asv's discovery writes it
    requirements = requirements or {"numpy": "", "scipy": ""}
    result = Results({"machine": machine, "python": "3.11", **requirements}, requirements,
                     commit, date, "3.11", env, {})
    for name, values in values_by_name.items():
        spec = specs[name]
        params = [[eval(v) for v in p] for p in spec["params"]]  # noqa: S307 - our own reprs
        combos = list(itertools.product(*params))
        row = [values.get(c, NAN) for c in combos]
        result.add_result(spec, runner.BenchmarkResult(
            result=row, samples=[None] * len(row), number=[None] * len(row),
            errcode=0, stderr="", profile=None),
            started_at=datetime.datetime.now(datetime.timezone.utc), duration=1.0)
    result.save(str(results_dir))
    (results_dir / "benchmarks.json").write_text(json.dumps(known))


BACKENDS = ["numpy", "jax", "pytorch", "tensorflow"]
SPECS = {
    TIME: benchmark_spec(TIME, ["backend", "device", "n_bins"],
                         [BACKENDS, ["cpu", "gpu"], [1, 10, 100]], "time", "seconds"),
    TRACK: benchmark_spec(TRACK, ["backend", "device", "n_bins"],
                          [BACKENDS, ["cpu", "gpu"], [1, 10]], "track", "CLs"),
    PEAK: benchmark_spec(PEAK, ["backend", "device", "likelihood"],
                         [BACKENDS, ["cpu", "gpu"], ["staus"]], "peakmemory", "bytes"),
    UTIL: benchmark_spec(UTIL, ["backend", "device", "optimizer"],
                         [BACKENDS, ["cpu", "gpu"], ["scipy"]], "track", "% of one core"),
    SCAN: benchmark_spec(SCAN, ["executor", "workers"], [["serial", "processes"], [1, 2, 4]],
                         "track", "patches/s"),
    "bench_fit.MaximumLikelihoodFit.time_unconditional_fit": benchmark_spec(
        "bench_fit.MaximumLikelihoodFit.time_unconditional_fit", ["backend", "device"],
        [BACKENDS, ["cpu", "gpu"]], "time", "seconds"),
}
