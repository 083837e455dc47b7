"""Paired confirmation of a slowdown: baseline and candidate timed alternately, A B B A ...

Two worker processes (``benchmarks/support/paired_worker.py``), one per
commit, each in the commit's asv environment with that commit's pyhf first on
``sys.path``, each with the benchmark class imported and set up once. The
host asks them for one sample at a time, alternating the order within pairs
(A B, B A, ...), so load from other processes and slow drift hit both sides
alike, and only one side runs at any moment. A pair's ratio is
candidate / baseline; the decision is on the ratios:

- the clock: CPU time (``time.process_time``) for a single-threaded CPU
  workload, where load from other processes barely moves it; wall time on a
  GPU and where other threads did a share of the work (measured in the
  warm-up call, see ``choose_clock``);
- the estimate: the median of the pair ratios, with a distribution-free
  confidence interval (order statistics of the binomial), so a one-off load
  spike moves one pair and not the verdict;
- confirmed when the interval lies above 1 (certainly slower) and reaches
  1 + threshold (consistent with a slowdown of at least the threshold).

See docs/gate-lanes.md for what it costs and what it catches.
"""

import ast
import json
import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import childenv

REPO_ROOT = Path(__file__).resolve().parents[2]

#: A share of CPU time spent in other threads above this makes a workload multi-threaded.
OTHER_THREADS_LIMIT = 0.05


class PairedError(RuntimeError):
    """The pair cannot be measured: a worker failed, skipped, or its environment is missing."""


@dataclass
class Side:
    """How to start one worker: the Python, what goes first on sys.path, the benchmark."""

    python: str
    module: str
    cls: str
    method: str
    params: list
    sys_path: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    #: Instead of the benchmark method: an instruction workload, ``instruction_workloads.spec``.
    workload: list = None


class Worker:
    def __init__(self, side, timeout=900):
        spec = {"module": side.module, "class": side.cls, "method": side.method,
                "params": side.params, "sys_path": [str(p) for p in side.sys_path],
                "workload": side.workload}
        code = (f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); "
                "from benchmarks.support import paired_worker; "
                f"paired_worker.main({json.dumps(spec)!r})")
        # stderr to a file, not a pipe: nobody reads a pipe while the worker answers on
        # stdout, and a worker that warns at every call (JAX 0.9 on Python 3.13 did) blocks
        # once the pipe's 64 KiB are full, and the night with it.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [side.python, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr, text=True, env=childenv.child_environ(side.env))
        self.timeout = timeout
        first = self._read()
        if first.get("state") != "ready":
            self.close()
            raise PairedError(f"{side.module}.{side.cls}.{side.method}{tuple(side.params)}: "
                              f"{first.get('state')}: {first.get('reason')}")

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            stderr = self.stderr_tail() if self.process.poll() is not None else ""
            return {"state": "error", "reason": f"the worker exited ({self.process.poll()}): {stderr}"}
        return json.loads(line)

    def stderr_tail(self, size=2000):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()[-size:]

    def ask(self, request, answer):
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        message = self._read()
        if message.get("state") != answer:
            raise PairedError(f"worker: {message.get('reason')}")
        return message

    def sample(self):
        """CPU and wall time of one call."""
        return self.ask("sample", "sample")

    def profile(self, clock):
        """cProfile of one call on ``clock`` ("cpu": process time, "wall"): the worker's rows."""
        return self.ask(f"profile {clock}", "profile")

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def choose_clock(device, warm_samples):
    """"wall" on a GPU or where other threads did part of the work, else "cpu"."""
    if device == "gpu":
        return "wall"
    if any(s["other_threads"] > OTHER_THREADS_LIMIT for s in warm_samples):
        return "wall"
    return "cpu"


def generation_sizes(pairs, generations):
    """How ``alternate`` shares ``pairs`` among ``generations`` pairs of workers, in order."""
    return [pairs // generations + (1 if g < pairs % generations else 0)
            for g in range(generations)]


def alternate(baseline, candidate, pairs, device="cpu", progress=None, measure=None,
              generations=1):
    """Measure ``pairs`` pairs, alternating the order; return (clock, [(base, cand) samples]).

    ``measure(worker, clock)`` takes one observation (default: ``worker.sample()``).
    ``generations`` > 1 splits the pairs among that many fresh pairs of workers, in order:
    a worker process can be slower than its twin for its whole life (seen at x1.75 on a
    50 µs call of identical code), which no number of pairs from the same two workers undoes.
    """
    measure = measure or (lambda worker, clock: worker.sample())
    clock, measured = None, []
    for share in generation_sizes(pairs, generations):
        workers = []
        try:
            workers = [Worker(baseline), Worker(candidate)]
            warm = [w.sample() for w in workers]  # one call each, not recorded
            clock = clock or choose_clock(device, warm)
            for _ in range(share):
                i = len(measured)
                if progress:
                    progress(i)
                order = (0, 1) if i % 2 == 0 else (1, 0)
                got = {side: measure(workers[side], clock) for side in order}
                measured.append((got[0], got[1]))
        finally:
            for worker in workers:
                worker.close()
    return clock, measured


def median_interval(values, confidence):
    """(median, low, high): the distribution-free interval of the median (order statistics)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    mid = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    alpha = 1 - confidence
    # Largest k with P(Binomial(n, 1/2) <= k - 1) <= alpha / 2: [x_(k), x_(n+1-k)].
    k, tail = 0, 0.0
    while k < n // 2:
        tail_next = tail + math.comb(n, k) / 2 ** n
        if tail_next > alpha / 2:
            break
        tail, k = tail_next, k + 1
    if k == 0:  # too few pairs for this confidence: the interval is unbounded
        return mid, -math.inf, math.inf
    return mid, ordered[k - 1], ordered[n - k]


def decide(pair_samples, clock, threshold=0.10, confidence=0.99, generations=1):
    """The verdict on paired samples: a dict with ratio, interval, confirmed and the samples.

    With ``generations`` (as measured by ``alternate``) the median ratio of each generation of
    workers must be above 1 as well: a slowdown of the code shows in every pair of processes.
    """
    ratios = [cand[clock] / base[clock] for base, cand in pair_samples if base[clock] > 0]
    if not ratios:
        raise PairedError("no usable pairs")
    generation_ratios, start = [], 0
    for size in generation_sizes(len(ratios), generations):
        chunk = sorted(ratios[start:start + size])
        start += size
        if chunk:
            generation_ratios.append(chunk[len(chunk) // 2])
    logs = [math.log(r) for r in ratios]
    mid, low, high = (math.exp(x) if math.isfinite(x) else (0.0 if x < 0 else math.inf)
                      for x in median_interval(logs, confidence))
    slower = sum(r > 1 for r in ratios)
    return {
        "method": "paired", "clock": clock, "pairs": len(ratios), "ratio": mid,
        "ci_low": low, "ci_high": high, "confidence": confidence, "threshold": threshold,
        "pairs_slower": slower, "generation_ratios": generation_ratios,
        "confirmed": low > 1 and high >= 1 + threshold and min(generation_ratios) > 1,
        "baseline_s": [base[clock] for base, _ in pair_samples],
        "candidate_s": [cand[clock] for _, cand in pair_samples],
    }


def describe(verdict):
    return (f"paired {verdict['clock']} time, {verdict['pairs']} pairs: median ratio "
            f"x{verdict['ratio']:.3f}, {verdict['confidence']:.0%} interval "
            f"[{verdict['ci_low']:.3f}, {verdict['ci_high']:.3f}]"
            + ("" if len(verdict.get("generation_ratios") or []) < 2 else
               ", per pair of workers " + " ".join(f"x{r:.3f}" for r in verdict["generation_ratios"])))


# --------------------------------------------------------------------------- environments


def benchmark_parts(benchmark):
    """``bench_fit.MaximumLikelihoodFit.time_unconditional_fit`` -> module, class, method."""
    module, cls, method = benchmark.rsplit(".", 2)
    return f"benchmarks.{module}", cls, method


def param_values(param_reprs):
    return [ast.literal_eval(p) for p in param_reprs]


def find_environment(config_path, env_name):
    """The asv Environment named ``env_name`` of an asv configuration (None if absent)."""
    from asv import environment
    from asv.config import Config

    conf = Config.load(str(config_path))
    for env in environment.get_environments(conf, None, verbose=False):
        if env.name == env_name:
            return env
    return None


def environment_python(env):
    python = Path(env._path) / "bin" / "python"
    if not python.is_file():
        raise PairedError(f"asv environment {env.name} has no python at {python}: not built here")
    return str(python)


def install_commit(env, mirror, commit, dest):
    """pyhf of ``commit`` installed (no dependencies) into ``dest``, for the env's Python.

    The wheel asv built for the commit (its build cache) where it is kept, else one
    built from a clone of the mirror at that commit.
    """
    python = environment_python(env)
    dest = Path(dest)
    if dest.is_dir() and any(dest.glob("pyhf*")):
        return dest
    source = None
    cached = env._cache.get_cache_dir(commit)
    if cached:
        wheels = sorted(Path(cached).glob("*.whl"))
        source = str(wheels[0]) if wheels else None
    if source is None:
        checkout = dest.parent / f"src-{commit[:12]}"
        shutil.rmtree(checkout, ignore_errors=True)
        for args in (["clone", "--quiet", "--shared", str(mirror), str(checkout)],
                     ["-C", str(checkout), "checkout", "--quiet", commit]):
            done = subprocess.run(["git", *args], capture_output=True, text=True)
            if done.returncode:
                raise PairedError(f"git {' '.join(args[:1])} of {commit[:8]}: {done.stderr.strip()}")
        source = str(checkout)
    done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                           str(dest), source], capture_output=True, text=True,
                          env=childenv.child_environ())  # the build runs the commit's code
    if done.returncode:
        raise PairedError(f"installing pyhf {commit[:8]} for the paired run failed: "
                          f"{done.stderr.strip()[-1500:]}")
    return dest


def side_at(finding, env, install, commit, extra_env=None, workload=None):
    """The Side of a gate finding's benchmark (or ``workload``) with ``install``'s pyhf first."""
    module, cls, method = benchmark_parts(finding.benchmark)
    return Side(environment_python(env), module, cls, method, param_values(finding.param_reprs),
                [install, REPO_ROOT],
                dict(extra_env or {}, ASV_COMMIT=commit, ASV_ENV_NAME=env.name), workload)


def sides_for(finding, env, installs, extra_env=None, workload=None):
    """The baseline and candidate Sides of a gate finding."""
    return [side_at(finding, env, installs[commit], commit, extra_env, workload)
            for commit in (finding.baseline_commit, finding.commit)]


def environment_for(finding, config_path):
    """The finding's asv Environment in ``config_path``; PairedError when it has none."""
    env = find_environment(config_path, finding.env_name)
    if env is None:
        raise PairedError(f"no asv environment {finding.env_name} in {config_path}")
    return env


def install_path(scratch, commit):
    return Path(scratch) / f"pyhf-{commit[:12]}"


class Installs:
    """pyhf of each commit installed once into ``scratch`` for one asv environment; counts builds."""

    def __init__(self, env, mirror, scratch):
        self.env, self.mirror, self.scratch = env, mirror, Path(scratch)
        self.built = []  # commits installed by this object, in order
        self.seconds = 0.0

    def __call__(self, commit):
        dest = install_path(self.scratch, commit)
        if dest.is_dir() and any(dest.glob("pyhf*")):
            return dest
        started = time.monotonic()
        install_commit(self.env, self.mirror, commit, dest)
        self.seconds += time.monotonic() - started
        self.built.append(commit)
        return dest


def device_of(finding):
    return finding.params.get("device", "cpu")


def first_environment(finding, config_paths):
    """The finding's asv Environment in the first configuration that has it."""
    last = PairedError(f"no asv environment {finding.env_name}: no configuration")
    for config_path in config_paths:
        try:
            return environment_for(finding, config_path)
        except PairedError as err:
            last = err
    raise last


def confirm_finding(finding, env, mirror, scratch, rule, extra_env=None, progress=None):
    """Measure a ``slower`` finding's pair alternately in ``env``; return the verdict dict."""
    installs = {c: install_commit(env, mirror, c, install_path(scratch, c))
                for c in (finding.baseline_commit, finding.commit)}
    baseline, candidate = sides_for(finding, env, installs, extra_env)
    clock, samples = measure_by_rule(baseline, candidate, rule, device_of(finding), progress)
    return decide_by_rule(samples, clock, rule)


def measure_by_rule(baseline, candidate, rule, device="cpu", progress=None):
    """(clock, pair samples) as ``rule``'s confirmation takes them: its pairs, in its generations."""
    return alternate(baseline, candidate, rule.confirm_pairs, device, progress,
                     generations=rule.confirm_generations)


def decide_by_rule(samples, clock, rule):
    """``decide`` with ``rule``'s confirmation threshold, confidence and generations."""
    return decide(samples, clock, rule.confirm_threshold, rule.confirm_confidence,
                  rule.confirm_generations)
