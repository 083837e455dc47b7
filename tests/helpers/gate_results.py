"""Synthetic asv results of a fake commit history, written with asv's own ``Results`` class
(the format ``asv run --record-samples`` writes): the gate's, nightly's and tracks' tests use them."""

import json
import random

MACHINE = "box"
ENV = "virtualenv-py3.11-numpy"
TIME = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"
TRACK = "bench_baseline.HypotestUncorrelatedBackground.track_cls_obs"
PEAKMEM = "bench_model.BuildModel.peakmem_build"
PARAMS = [["'numpy'", "'pytorch'"], ["1", "10"]]
PARAM_NAMES = ["backend", "n_bins"]


def benchmark(name, params=PARAMS, version="1"):
    return {"name": name, "params": params, "version": version}


def samples_around(center, n=10, spread=0.02, seed=0):
    rng = random.Random(seed)
    return [center * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


class ResultsWriter:
    """Writes asv results files for a fake history of commits."""

    def __init__(self, root, machine=MACHINE):
        self.root = root
        self.machine = machine
        self.date = 1_700_000_000_000
        self.commits = []
        (root / machine).mkdir(parents=True, exist_ok=True)
        (root / machine / "machine.json").write_text(json.dumps({"machine": machine, "version": 1}))
        info = {
            TIME: {"name": TIME, "unit": "seconds", "param_names": PARAM_NAMES, "params": PARAMS,
                   "type": "time", "version": "1"},
            TRACK: {"name": TRACK, "unit": "CLs [result]", "param_names": PARAM_NAMES, "params": PARAMS,
                    "type": "track", "version": "1"},
            PEAKMEM: {"name": PEAKMEM, "unit": "bytes", "param_names": [], "params": [],
                      "type": "peakmemory", "version": "1"},
            "version": 2,
        }
        (root / "benchmarks.json").write_text(json.dumps(info))

    def commit(self, name, values=None, build_failed=False, env=ENV):
        """``values``: {benchmark: [per-combination value or list of samples]}."""
        from asv.results import Results
        from asv.runner import BenchmarkResult

        commit = (name.encode().hex() + "0" * 40)[:40]
        self.date += 3_600_000
        result = Results({"machine": self.machine, "python": "3.11"}, {}, commit, self.date,
                         "3.11", env, {})
        for bench_name, per_combo in (values or {}).items():
            params = [] if bench_name == PEAKMEM else PARAMS
            bench = benchmark(bench_name, params)
            if build_failed:
                per_combo = [None] * len(per_combo)
            res, samples, number = [], [], []
            for item in per_combo:
                if isinstance(item, list):
                    res.append(sorted(item)[len(item) // 2])
                    samples.append(item)
                    number.append(1)
                else:
                    res.append(item)
                    samples.append(None)
                    number.append(None)
            result.add_result(
                bench,
                BenchmarkResult(result=res, samples=samples, number=number,
                                errcode=1 if None in res else 0, stderr="", profile=None),
                duration=None if build_failed else 1.5,
                record_samples=True,
            )
        result.save(str(self.root))
        self.commits.append(commit)
        return commit


NAN = float("nan")


def history(values_by_commit):
    return values_by_commit


def good_values(time_center=(0.010, 0.050), cls=(0.27, 0.016), seed=0, mem=100e6):
    return {
        TIME: [samples_around(time_center[0], seed=seed), samples_around(time_center[1], seed=seed + 1),
               NAN, NAN],
        TRACK: [cls[0], cls[1], NAN, NAN],
        PEAKMEM: [mem],
    }
