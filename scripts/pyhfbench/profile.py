"""Profile one benchmark at one pyhf commit, and say where the time goes.

``scripts/profile BENCHMARK [REVISION] --param backend=jax ...`` resolves the
benchmark (a full asv name, a unique tail of one such as
``HypotestUncorrelatedBackground.time_hypotest``, or asv's form with the
parameters, ``name('numpy', 'cpu', 10)``), fills parameters not given with
their first value, and runs ``asv profile`` (cProfile, in the asv
environment of that commit, built if needed). It saves, under
``<results_dir>/profiles/<commit>/<benchmark>/`` (kept by ``asv publish``,
picked up by ``scripts/report``):

* ``profile.prof``: the cProfile data (snakeviz, ``python -m pstats``);
* ``profile.txt``: the functions by cumulative and by own time;
* ``summary.md``: where the time goes, by package (pyhf by subpackage, time in
  built-ins charged to the package that called them), the hot path from the
  benchmark down, and the top functions;
* ``where-time-goes.png`` / ``.svg``; ``asv-profile.log``.

So a regression the gate reports can be explained: profile the commit before
and the commit after, and compare the summaries.
"""

import importlib
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import asvconf, childenv
from .results import load_benchmarks_json as _benchmarks_json
from .results import unrepr as _unquote

REPO_ROOT = asvconf.REPO_ROOT
PROFILES_FOLDER = "profiles"
#: Frames of the profiler and asv's runner, left out of the hot path and top lists.
HARNESS = ("asv_runner", "cProfile", "/asv/", "<string>")


class ProfileError(RuntimeError):
    pass


# --------------------------------------------------------------------------- benchmarks

def _from_source(name, benchmark_dir):
    """(param_names, params as asv reprs) of ``module.Class.method`` by importing the suite."""
    parts = name.split(".")
    if len(parts) < 2:
        raise ProfileError(f"{name!r} is not module.Class.method")
    parent = str(Path(benchmark_dir).resolve().parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    package = Path(benchmark_dir).name
    try:
        module = importlib.import_module(f"{package}.{parts[0]}")
    except Exception as err:  # noqa: BLE001 - any import error means: cannot resolve here
        raise ProfileError(f"cannot import {package}.{parts[0]}: {err}") from None
    owner = module
    for part in parts[1:-1]:
        owner = getattr(owner, part, None)
    if owner is None or not hasattr(owner, parts[-1]):
        raise ProfileError(f"benchmark {name!r} not found in {benchmark_dir}")
    params = getattr(owner, "params", []) or []
    if params and not isinstance(params[0], (list, tuple)):
        params = [params]
    names = list(getattr(owner, "param_names", []) or [f"param{i + 1}" for i in range(len(params))])
    return names, [[repr(v) for v in values] for values in params]


def resolve_benchmark(spec, param_values=None, results_dir=None, benchmark_dir=None):
    """asv's name of one parameter combination: ``(full name, {param: value}, asv string)``.

    ``spec``: a full name, a unique tail of one, or asv's ``name(p1, p2, ...)``.
    ``param_values``: {param name: value}; parameters not given take their first value.
    """
    param_values = dict(param_values or {})
    if "(" in spec:
        name, _, rest = spec.partition("(")
        return name, {}, spec
    known = _benchmarks_json(results_dir) if results_dir else {}
    if known:
        matches = [n for n in known if n == spec] or [n for n in known if n.endswith("." + spec)]
        if not matches:
            raise ProfileError(f"no benchmark named {spec!r} (see {results_dir}/benchmarks.json)")
        if len(matches) > 1:
            raise ProfileError(f"{spec!r} matches {', '.join(sorted(matches))}: give more of it")
        name = matches[0]
        names, params = list(known[name].get("param_names") or []), known[name].get("params") or []
    else:
        name = spec
        names, params = _from_source(spec, benchmark_dir or REPO_ROOT / "benchmarks")
    unknown = set(param_values) - set(names)
    if unknown:
        raise ProfileError(f"{name} has no parameter {', '.join(sorted(unknown))}; "
                           f"its parameters: {', '.join(names) or 'none'}")
    chosen, reprs = {}, []
    for pname, values in zip(names, params):
        if pname in param_values:
            wanted = str(param_values[pname])
            found = [v for v in values if _unquote(v) == wanted or v == wanted]
            if not found:
                raise ProfileError(f"{pname}={wanted} is not one of "
                                   f"{', '.join(_unquote(v) for v in values)}")
            value = found[0]
        else:
            value = values[0]
        chosen[pname] = _unquote(value)
        reprs.append(value)
    return name, chosen, f"{name}({', '.join(reprs)})" if params else name


def label_of(name, chosen):
    text = name + ("-" + "-".join(str(v) for v in chosen.values()) if chosen else "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


# --------------------------------------------------------------------------- summary

def _short_path(filename):
    if filename == "~":
        return ""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    if "/benchmarks/" in filename:
        return "benchmarks/" + filename.split("/benchmarks/", 1)[1]
    match = re.search(r"/lib/python\d+\.\d+/(.*)", filename)
    return match.group(1) if match else filename


def func_label(func):
    filename, line, name = func
    if filename == "~":
        return name
    return f"{_short_path(filename)}:{line}({name})"


def area_of(func):
    """The package a function belongs to: 'pyhf.infer', 'numpy', 'scipy', 'benchmarks'..."""
    filename = func[0]
    if filename == "~":
        return None
    for marker in ("site-packages/", "dist-packages/"):
        if marker in filename:
            parts = filename.split(marker, 1)[1].split("/")
            top = parts[0].removesuffix(".py")
            if top == "pyhf" and len(parts) > 1:
                return "pyhf." + parts[1].removesuffix(".py")
            return top
    if "/benchmarks/" in filename:
        return "benchmarks (this suite)"
    if re.search(r"/lib/python\d+\.\d+/", filename) or filename.startswith("<frozen"):
        return "python standard library"
    return "other"


def _is_harness(func):
    return any(h in func[0] for h in HARNESS) or func[2] in ("<module>",)


def summarize(prof_path, top=20):
    """Where the time goes, from a cProfile file: a dict (see write_summary)."""
    stats = pstats.Stats(str(prof_path))
    stats.calc_callees()
    raw = stats.stats
    total = stats.total_tt or sum(v[2] for v in raw.values()) or 1e-12
    areas = {}
    for func, (_, _, tt, _, callers) in raw.items():
        area = area_of(func)
        if area is not None:
            areas[area] = areas.get(area, 0.0) + tt
            continue
        # A built-in: charge its own time to the packages that called it.
        charged = 0.0
        for caller, edge in callers.items():
            caller_area = area_of(caller) or "built-in (C) functions"
            edge_tt = edge[2] if isinstance(edge, tuple) else 0.0
            areas[caller_area] = areas.get(caller_area, 0.0) + edge_tt
            charged += edge_tt
        if tt - charged > 1e-12:
            rest = "built-in (C) functions"
            areas[rest] = areas.get(rest, 0.0) + tt - charged
    if "cProfile" in areas:
        areas.pop("cProfile")
    by_area = sorted(((a, t) for a, t in areas.items() if t > 0), key=lambda x: -x[1])

    real = {f: v for f, v in raw.items() if not _is_harness(f)}
    by_own = sorted(real.items(), key=lambda kv: -kv[1][2])[:top]
    by_cum = sorted(real.items(), key=lambda kv: -kv[1][3])[:top]

    # The hot path: from the benchmark method down, always into the costliest callee.
    suite = [f for f in real if area_of(f) == "benchmarks (this suite)"]
    start = max(suite or real or raw, key=lambda f: raw[f][3])
    path, seen, func, ct = [], set(), start, raw[start][3]
    while func is not None and func not in seen and len(path) < 30:
        seen.add(func)
        path.append((func, ct))
        callees = stats.all_callees.get(func, {})
        best = None
        for callee, edge in callees.items():
            edge_ct = edge[3] if isinstance(edge, tuple) else raw[callee][3]
            if callee not in seen and (best is None or edge_ct > best[1]):
                best = (callee, edge_ct)
        if best is None or best[1] < 0.02 * total:
            break
        # cProfile keeps caller->callee pairs only: deeper shares are upper bounds.
        func, ct = best[0], min(best[1], ct)
    return {
        "total": total,
        "calls": stats.total_calls,
        "areas": by_area,
        "own": [(func_label(f), v[2], v[1]) for f, v in by_own],
        "cumulative": [(func_label(f), v[3], v[1]) for f, v in by_cum],
        "hot_path": [(func_label(f), ct) for f, ct in path],
    }


def _pct(part, total):
    return f"{100.0 * part / total:.1f} %" if total else ""


def summary_markdown(summary, title, context):
    total = summary["total"]
    lines = [f"# Profile: {title}", ""]
    lines += [f"- {k}: {v}" for k, v in context.items()]
    lines += ["", f"Total profiled time {total:.4g} s in {summary['calls']} function calls "
                  "(cProfile, one call of the benchmark; profiling slows pure-Python code "
                  "more than compiled code).", "",
              "## Where the time goes, by package", "",
              "Own time of each package's functions, with the built-in (C) functions they "
              "call charged to them.", "", "| package | time (s) | share |",
              "| --- | ---: | ---: |"]
    lines += [f"| {a} | {t:.4g} | {_pct(t, total)} |" for a, t in summary["areas"]]
    lines += ["", "## Hot path", "",
              "From the benchmark down, always into the callee with the most cumulative time "
              "(cProfile keeps caller-callee pairs only, so deeper shares are upper bounds).",
              "", "| cumulative (s) | share | function |", "| ---: | ---: | --- |"]
    lines += [f"| {ct:.4g} | {_pct(ct, total)} | {'· ' * i}`{name}` |"
              for i, (name, ct) in enumerate(summary["hot_path"])]
    lines += ["", "## Top functions by own time", "", "| own time (s) | share | calls | function |",
              "| ---: | ---: | ---: | --- |"]
    lines += [f"| {t:.4g} | {_pct(t, total)} | {n} | `{name}` |" for name, t, n in summary["own"]]
    lines += ["", "## Top functions by cumulative time", "",
              "| cumulative (s) | share | calls | function |", "| ---: | ---: | ---: | --- |"]
    lines += [f"| {t:.4g} | {_pct(t, total)} | {n} | `{name}` |"
              for name, t, n in summary["cumulative"]]
    return "\n".join(lines) + "\n"


def plot_areas(summary, title, dest_stem):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    areas = summary["areas"][:12]
    if not areas:
        return []
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(areas) + 1.5))
    ax.barh(range(len(areas)), [t for _, t in areas], color="#4C72B0")
    ax.set_yticks(range(len(areas)))
    ax.set_yticklabels([a for a, _ in areas], fontsize=9)
    ax.invert_yaxis()
    for i, (_, t) in enumerate(areas):
        ax.text(t, i, f" {100 * t / summary['total']:.0f} %", va="center", fontsize=8)
    ax.set_xlabel("time (s, own time incl. built-ins called)")
    ax.set_title(f"Where the time goes: {title}", fontsize=10)
    fig.tight_layout()
    paths = []
    for ext in ("png", "svg"):
        path = Path(f"{dest_stem}.{ext}")
        fig.savefig(path, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def write_outputs(prof_path, out_dir, title, context, top=20):
    """profile.txt, summary.md and the plot beside ``prof_path`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(prof_path, top=top)
    with open(out_dir / "profile.txt", "w") as stream:
        stats = pstats.Stats(str(prof_path), stream=stream)
        stream.write(f"Profile of {title}\n\n== by cumulative time\n")
        stats.sort_stats("cumulative").print_stats(60)
        stream.write("\n== by own time\n")
        stats.sort_stats("tottime").print_stats(40)
    (out_dir / "summary.md").write_text(summary_markdown(summary, title, context))
    plot_areas(summary, title, out_dir / "where-time-goes")
    return summary


# --------------------------------------------------------------------------- running asv

def _config_data(config):
    from asv.util import load_json

    return load_json(str(config), js_comments=True)


def resolve_commit(config, revision):
    """The full hash of ``revision`` (default: the configuration's first branch)."""
    from asv.config import Config
    from asv.repo import get_repo

    conf = Config.load(str(config))
    cwd = os.getcwd()
    try:
        os.chdir(REPO_ROOT)
        repo = get_repo(conf)
        return repo.get_hash_from_name(revision or conf.branches[0])
    finally:
        os.chdir(cwd)


def run_asv_profile(config, asv_name, revision, dest, force=False, env_spec=None, log=None):
    """``asv profile`` into ``dest``; returns asv's output. ProfileError with the reason."""
    command = [sys.executable, "-m", "asv", "profile", "--config", str(config),
               "-o", str(dest), re.escape(asv_name)]
    if revision:
        command.append(revision)
    if force:
        command.append("--force")
    if env_spec:
        command += ["-E", env_spec]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                            env=childenv.child_environ())
    output = result.stdout + result.stderr
    if log:
        Path(log).write_text("$ " + " ".join(command[2:]) + "\n" + output)
    if result.returncode != 0 or not Path(dest).is_file() or Path(dest).stat().st_size == 0:
        skip = (re.search(r"skipped: \w+\((['\"])(.*)\1\)", output)
                or re.search(r"(?:NotImplementedError|SkipNotImplemented): (.*)()", output))
        if skip:
            reason = skip.group(2) or skip.group(1)
            raise ProfileError(f"{asv_name} is skipped here (n/a), no profile: {reason.strip()}")
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise ProfileError(f"asv profile of {asv_name} failed (exit {result.returncode}):\n{tail}")
    return output


def profile_benchmark(spec, revision=None, params=None, config=None, out_dir=None,
                      force=False, env_spec=None, top=20):
    """Profile one benchmark combination at ``revision``; returns (out_dir, summary)."""
    config = Path(config) if config else asvconf.write_config(
        asvconf.derive_config(), REPO_ROOT / ".asv" / "asv.profile.json")
    data = _config_data(config)
    results_dir = Path(data.get("results_dir", "results"))
    if not results_dir.is_absolute():
        results_dir = Path(config).resolve().parent / results_dir
    benchmark_dir = Path(data.get("benchmark_dir", "benchmarks"))
    if not benchmark_dir.is_absolute():
        benchmark_dir = Path(config).resolve().parent / benchmark_dir
    name, chosen, asv_name = resolve_benchmark(spec, params, results_dir, benchmark_dir)
    with tempfile.TemporaryDirectory(prefix="pyhf-profile-") as scratch:
        prof = Path(scratch) / "profile.prof"
        log = Path(scratch) / "asv-profile.log"
        try:
            run_asv_profile(config, asv_name, revision, prof, force=force, env_spec=env_spec,
                            log=log)
        finally:
            if out_dir and log.is_file():
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                shutil.copy2(log, Path(out_dir) / log.name)
        commit = resolve_commit(config, revision)
        out_dir = Path(out_dir) if out_dir else \
            results_dir / PROFILES_FOLDER / commit / label_of(name, chosen)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(prof, out_dir / "profile.prof")
        shutil.copy2(log, out_dir / "asv-profile.log")
    context = {"benchmark": f"`{asv_name}`", "commit": f"`{commit}`"
               + (f" ({revision})" if revision and not commit.startswith(revision) else ""),
               "asv configuration": f"`{config}`", "repository": f"`{data.get('repo')}`"}
    summary = write_outputs(out_dir / "profile.prof", out_dir, asv_name, context, top=top)
    return out_dir, summary


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/profile",
        description="Profile one benchmark at one pyhf commit with asv profile (cProfile) "
        "and summarize where the time goes.",
    )
    parser.add_argument("benchmark", help="full name, a unique tail of one "
                        "(Class.method), or asv's name('numpy', 'cpu', 10)")
    parser.add_argument("revision", nargs="?", help="commit, tag or branch "
                        "(default: the configuration's first branch)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter value (repeatable); others take their first value")
    parser.add_argument("--config", help="asv configuration (default: asv.conf.json, "
                        "or one derived with --repo/--matrix)")
    parser.add_argument("--repo", help="pyhf repository (URL or local path), as scripts/asvconf")
    parser.add_argument("--matrix", help="requirement preset, as scripts/asvconf")
    parser.add_argument("--env-dir", help="asv environment folder, as scripts/asvconf")
    parser.add_argument("--output-dir", help="default: RESULTS_DIR/profiles/COMMIT/BENCHMARK")
    parser.add_argument("--force", action="store_true",
                        help="profile again even if asv's results hold a profile")
    parser.add_argument("-E", "--environment", dest="env_spec", help="asv environment spec")
    parser.add_argument("--top", type=int, default=20, help="functions per top list")
    args = parser.parse_args(argv)

    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--param {item!r}: expected NAME=VALUE")
        params[key.strip()] = value.strip()
    config = args.config
    if config is None and (args.repo or args.matrix or args.env_dir):
        config = asvconf.write_config(
            asvconf.derive_config(repo=args.repo, matrix=args.matrix, env_dir=args.env_dir),
            REPO_ROOT / ".asv" / "asv.profile.json")
    try:
        out_dir, summary = profile_benchmark(args.benchmark, args.revision, params, config,
                                             args.output_dir, args.force, args.env_spec,
                                             args.top)
    except ProfileError as err:
        print(f"profile: {err}", file=sys.stderr)
        return 1
    total = summary["total"]
    print(f"Total profiled time {total:.4g} s. Where the time goes:")
    for area, t in summary["areas"][:8]:
        print(f"  {100 * t / total:5.1f} %  {t:9.4g} s  {area}")
    print("Hot path:")
    for i, (name, ct) in enumerate(summary["hot_path"][:12]):
        print(f"  {100 * ct / total:5.1f} %  {'  ' * i}{name}")
    print(f"Profile: {out_dir / 'profile.prof'}")
    print(f"Summary: {out_dir / 'summary.md'}")
    return 0
