"""pyhf against ROOT's HistFactory, side by side: the table of docs/root-vs-pyhf.md.

For each pallet (its representative signal patch, synthetic where none was
published) and each engine (ROOT, and pyhf on each backend installed here
with the SciPy and the Minuit optimizer), one fresh interpreter measures, with
the code the benchmarks use (``roofit.py`` for ROOT,
``backends.activate`` and ``pyhf_compat.fit_with_details`` for pyhf):

* build: ROOT workspace from the pyhf JSON, or pyhf model from workspace plus
  patch (ROOT's first build, with its JIT, reported apart);
* fit: unconditional MLE, first (cold, in this interpreter) and warm;
* hypotest: asymptotic CLs at POI 1 with qtilde (pyhf ``hypotest``, RooStats
  ``AsymptoticCalculator``), warm, and CLs_obs and median CLs_exp;

Warm times are the median of ``--repeat`` calls after the first, fewer (at
least one) where they would take more than ``--budget`` seconds;
* agreement with pyhf NumPy + SciPy: the largest best-fit parameter
  difference, pyhf's twice-NLL at this engine's best fit minus at the
  reference's, and the CLs differences; for ROOT also the spread of
  ROOT NLL - pyhf NLL over 20 random parameter points.

Prints a Markdown table (and writes the raw numbers with ``--json``).
BLAS and torch threads are limited as in the suite (``PYHF_BENCH_THREADS``, default 1).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .support import settings, support_module

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MIRROR = REPO_ROOT.parent / "shared" / "pallets"
DEFAULT_LIKELIHOODS = ("sbottom/RegionA", "sbottom/RegionB", "sbottom/RegionC", "staus",
                       "compressed-sleptons", "generated/small")
PYHF_BACKENDS = support_module("pyhf_compat").BACKENDS
OPTIMIZERS = ("scipy", "minuit")


# --- one engine on one pallet, in its own interpreter -------------------------------------

def _timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


#: Seconds of warm repeats allowed per measured quantity (set by --budget).
BUDGET = 120.0


def repeated(call, repeat, seconds_of=lambda result, wall: wall):
    """[(result, seconds)]: one cold call, then up to ``repeat`` warm ones, fewer
    (at least one) where they would take longer than BUDGET seconds."""
    runs = [_timed(call)]
    runs[0] = (runs[0][0], seconds_of(*runs[0]))
    warm = max(1, min(repeat, int(BUDGET // max(runs[0][1], 1e-9))))
    for _ in range(warm):
        result, wall = _timed(call)
        runs.append((result, seconds_of(result, wall)))
    return runs


def measure_root(likelihood, repeat, part="fit"):
    from benchmarks.support import pallets

    from . import roofit

    import pyhf

    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
    data = [float(x) for x in data]
    if part == "hypotest":
        root = roofit.prepare_for_tests(roofit.build(model, data))
        tests = repeated(lambda: roofit.hypotest(root), repeat)
        cls_obs, cls_exp = tests[-1][0]
        return {"hypotest_cold": tests[0][1], "hypotest": statistics.median(s for _, s in tests[1:]),
                "hypotest_repeats": len(tests) - 1, "cls_obs": cls_obs, "cls_exp": cls_exp}
    builds = repeated(lambda: roofit.build(model, data), repeat, lambda root, _: root.build_seconds)
    root = builds[-1][0]
    fits = repeated(lambda: roofit.fit(root), repeat, lambda fit, _: fit.seconds)
    last = fits[-1][0]
    out = {
        "engine": "ROOT " + roofit.root_version(), "optimizer": "Minuit2",
        "build_cold": builds[0][1], "build": statistics.median(s for _, s in builds[1:]),
        "fit_cold": fits[0][1], "fit": statistics.median(s for _, s in fits[1:]),
        "fit_repeats": len(fits) - 1,
        "bestfit": last.bestfit, "fit_status": last.status,
        "twice_nll_pyhf": -2.0 * float(model.logpdf(last.bestfit, data)[0]),
    }
    points, _ = roofit.random_points(model, data, count=20, seed=7)
    out["nll_spread"] = roofit.spread(roofit.nll_differences(root, data, points))
    return out


def measure_pyhf(likelihood, backend, optimizer, repeat, part="fit"):
    from benchmarks.common import require_budget
    from benchmarks.support import backends, pallets, pyhf_compat, threads

    import pyhf

    require_budget(backend, optimizer)  # as in the suite: PYHF_BENCH_SIZE=full lifts it
    tensorlib = backends.activate(backend, "cpu", optimizer=optimizer)
    threads.limit_threads(threads.configured_threads())
    workspace = pallets.load_workspace(likelihood)
    patch = pallets.load_patch(likelihood, pallets.signal_patch(likelihood))
    if part == "hypotest":
        model = pyhf_compat.model_from_workspace(workspace, [patch])
        data = tensorlib.astensor(workspace.data(model))

        def one_test():
            result = pyhf.infer.hypotest(1.0, data, model, return_expected=True,
                                         **pyhf_compat.test_stat_kwargs("qtilde"))
            backends.wait_for_device(backend, result[0])
            return result

        tests = repeated(one_test, repeat)
        cls_obs, cls_exp = (float(x) for x in tests[-1][0])
        return {"hypotest_cold": tests[0][1], "hypotest": statistics.median(s for _, s in tests[1:]),
                "hypotest_repeats": len(tests) - 1, "cls_obs": cls_obs, "cls_exp": cls_exp}
    builds = repeated(lambda: pyhf_compat.model_from_workspace(workspace, [patch]), repeat)
    model = builds[-1][0]
    data = tensorlib.astensor(workspace.data(model))

    def one_fit():
        result = pyhf_compat.fit_with_details(data, model)
        backends.wait_for_device(backend, result[0])
        return result

    fits = repeated(one_fit, repeat)
    (bestfit, twice_nll, _), _ = fits[-1]
    out = {
        "engine": f"pyhf {pyhf.__version__} {backend}", "optimizer": optimizer,
        "build_cold": builds[0][1], "build": statistics.median(s for _, s in builds[1:]),
        "fit_cold": fits[0][1], "fit": statistics.median(s for _, s in fits[1:]),
        "fit_repeats": len(fits) - 1,
        "bestfit": [float(x) for x in tensorlib.tolist(bestfit)],
        "twice_nll": float(twice_nll),
    }
    return out


def worker(argv):
    """Entry point of the child interpreter: one engine, one pallet, one part (fit or
    hypotest, so that a slow hypotest cannot lose the fit numbers); JSON on the last line."""
    sys.path.insert(0, str(REPO_ROOT))
    global BUDGET
    likelihood, engine, optimizer, repeat, part, budget = argv
    repeat, BUDGET = int(repeat), float(budget)
    try:
        if engine == "root":
            out = measure_root(likelihood, repeat, part)
        else:
            out = measure_pyhf(likelihood, engine, optimizer, repeat, part)
    except NotImplementedError as err:
        out = {"skipped": str(err)}
    print("\n" + json.dumps(out), flush=True)
    return 0


def row_name(engine, optimizer):
    """The key of a row in the results file."""
    return "ROOT" if engine == "root" else f"pyhf {engine} {optimizer}"


def run_worker(likelihood, engine, optimizer, repeat, part, timeout, budget=BUDGET):
    command = [sys.executable, "-m", "pyhfbench.root_compare", "--worker",
               likelihood, engine, optimizer, str(repeat), part, str(budget)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT / "scripts"), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=REPO_ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"failed": f"over {timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"failed": f"exit {done.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


# --- the table -----------------------------------------------------------------------------

def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"nproc": os.cpu_count(), "cpu": model or platform.processor(),
            "python": platform.python_version(), "load_at_start": load,
            "threads": str(settings.blas_threads())}


def agreement(row, reference):
    """Differences of one row to the reference (pyhf NumPy + SciPy)."""
    if "bestfit" not in row or "bestfit" not in reference:
        return {}
    out = {"max_dpar": max(abs(a - b) for a, b in zip(row["bestfit"], reference["bestfit"]))}
    twice = row.get("twice_nll_pyhf", row.get("twice_nll"))
    if twice is not None:
        out["d2nll"] = twice - reference["twice_nll"]
    for key in ("cls_obs", "cls_exp"):
        if key in row and key in reference:
            out["d_" + key] = row[key] - reference[key]
    return out


def display_order(what):
    """ROOT first, then pyhf's backends and optimizers in the order of the command line's defaults."""
    order = ["ROOT"] + [row_name(b, o) for b in PYHF_BACKENDS for o in OPTIMIZERS]
    return order.index(what) if what in order else len(order)


def fmt(value, kind="s"):
    if value is None:
        return ""
    if kind == "s":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if kind == "cls":
        return f"{value:.4f}" if abs(value) >= 1e-3 else f"{value:.2e}"
    if kind == "abs":
        return f"{value:.1e}"
    return f"{value:+.1e}" if value != 0 else "0"


def markdown(results, info, command):
    loads = [row["load_after"] for rows in results.values() for row in rows
             if row.get("load_after") is not None]
    load = (f"1-minute load average {min(loads):.1f} to {max(loads):.1f} after the measurements"
            if loads else f"load average {info['load_at_start']:.1f} at the start")
    lines = [
        f"Measured with `{command}` on {info['nproc']} cores ({info['cpu']}), Python {info['python']}, "
        f"{info['threads']} BLAS/torch thread(s), {load}; "
        f"times in seconds, warm: median of up to {info.get('repeat', '?')} calls after the first "
        f"(fewer where they would exceed {info.get('budget', '?')} s), cold: the first call in a fresh "
        "interpreter; Δ: this row minus pyhf NumPy + SciPy.",
        "",
        "| pallet | engine | optimizer | build | fit cold | fit | hypotest | CLs_obs | CLs_exp | "
        "max \\|Δ best fit\\| | Δ(−2 ln L) at best fit | ΔCLs_obs | ΔCLs_exp |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes, skips = [], {}
    for likelihood, rows in results.items():
        reference = next((r for r in rows if r.get("engine", "").endswith("numpy")
                          and r.get("optimizer") == "scipy"), {})
        label = next((row["label"] for row in rows if row.get("label")), None)
        if label and label != likelihood:
            notes.append(f"{likelihood}: signal {label.removeprefix(likelihood).strip()}")
        for row in sorted(rows, key=lambda row: display_order(row["what"])):
            if "skipped" in row or "failed" in row:
                why = row.get("skipped") or row.get("failed")
                lines.append(f"| {likelihood} | {row['what']} | | | | | | | | | | | |")
                skips.setdefault((row["what"], why), []).append(likelihood)
                continue
            diff = agreement(row, reference) if row is not reference else {}
            hypotest = fmt(row.get("hypotest")) if "hypotest_failed" not in row else "n/a"
            build = fmt(row["build"]) + (f" ({fmt(row['build_cold'])} cold)" if row["engine"].startswith("ROOT") else "")
            lines.append(
                f"| {likelihood} | {row['engine']} | {row['optimizer']} | {build} | {fmt(row['fit_cold'])} | "
                f"{fmt(row['fit'])} | {hypotest} | {fmt(row.get('cls_obs'), 'cls')} | "
                f"{fmt(row.get('cls_exp'), 'cls')} | {fmt(diff.get('max_dpar'), 'abs')} | "
                f"{fmt(diff.get('d2nll'), 'd')} | {fmt(diff.get('d_cls_obs'), 'd')} | "
                f"{fmt(diff.get('d_cls_exp'), 'd')} |")
            settings = {name: row.get(name, info.get(name)) for name in ("repeat", "budget")}
            if settings != {name: info.get(name) for name in settings}:
                notes.append(f"{likelihood}, {row['what']}: measured by an earlier run, with "
                             f"up to {settings['repeat']} warm calls in {settings['budget']} s")
            short = [f"{row[key]} warm {what}{'s' if row[key] != 1 else ''}" for key, what in
                     (("fit_repeats", "fit"), ("hypotest_repeats", "hypotest"))
                     if row.get(key) is not None and row[key] < (settings["repeat"] or 0)]
            if short:
                notes.append(f"{likelihood}, {row['what']}: {', '.join(short)} (time budget)")
            if "hypotest_failed" in row:
                notes.append(f"{likelihood}, {row['what']}: hypotest not measured: {row['hypotest_failed']}")
            if "nll_spread" in row:
                notes.append(f"{likelihood}: ROOT NLL − pyhf NLL constant to {row['nll_spread']:.1e} "
                             "over 20 random parameter points")
    notes.extend(f"{', '.join(pallets)}, {what}: not measured: {why}"
                 for (what, why), pallets in skips.items())
    lines.append("")
    lines.extend(f"- {note}" for note in notes)
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        return worker(argv[1:])
    parser = argparse.ArgumentParser(
        prog="scripts/root-compare",
        description="Time and compare pyhf (each backend, SciPy and Minuit) with ROOT's "
        "HistFactory on the same pallets; print a Markdown table.")
    parser.add_argument("--likelihood", action="append", dest="likelihoods",
                        help=f"likelihood key (repeatable; default: {', '.join(DEFAULT_LIKELIHOODS)})")
    parser.add_argument("--backend", action="append", dest="backends",
                        help="pyhf backend (repeatable; default: every one installed here)")
    parser.add_argument("--optimizer", action="append", dest="optimizers",
                        help="pyhf optimizer (repeatable; default: scipy and minuit)")
    parser.add_argument("--repeat", type=int, default=3, help="warm repeats per measurement (default 3)")
    parser.add_argument("--no-hypotest", action="store_true", help="fits only")
    parser.add_argument("--mirror", default=None,
                        help=f"pallet mirror (default: $PYHF_BENCH_PALLET_MIRROR or {DEFAULT_MIRROR})")
    parser.add_argument("--budget", type=float, default=BUDGET,
                        help=f"seconds of warm repeats per quantity; fewer repeats (at least one) "
                        f"where they would take longer (default {BUDGET:.0f})")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per engine and pallet")
    parser.add_argument("--json", help="also write the raw results here, after every measurement; "
                        "rows already in it are kept, not measured again (resume), and rows "
                        "outside this run's selection stay in it and in the table")
    args = parser.parse_args(argv)
    mirror = args.mirror or settings.pallet_mirror() or (
        str(DEFAULT_MIRROR) if DEFAULT_MIRROR.is_dir() else None)
    if mirror:
        os.environ[settings.PALLET_MIRROR] = str(mirror)
    import importlib.util

    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.support import pyhf_compat

    backends = args.backends or [b for b in PYHF_BACKENDS if not pyhf_compat.missing_libraries(b)]
    optimizers = args.optimizers or list(OPTIMIZERS)
    likelihoods = args.likelihoods or list(DEFAULT_LIKELIHOODS)
    info = machine()
    info.update(repeat=args.repeat, budget=args.budget)
    engines = [("root", "Minuit2")] if importlib.util.find_spec("ROOT") else []
    if not engines:
        print("ROOT is not installed in this environment (scripts/bootstrap --dev installs it): "
              "pyhf rows only", file=sys.stderr)
    engines += [(backend, optimizer) for backend in backends for optimizer in optimizers]
    done, saved_rows = {}, {}
    if args.json and Path(args.json).is_file():
        saved = json.loads(Path(args.json).read_text())
        # The machine of the first run; the header names this run's settings, and rows
        # measured with others say so in a note.
        first = saved.get("machine", info)
        saved_rows = saved["results"]
        for row in (row for rows in saved_rows.values() for row in rows):
            row.setdefault("repeat", first.get("repeat"))
            row.setdefault("budget", first.get("budget"))
        info = dict(first, repeat=args.repeat, budget=args.budget)
        done = {(lik, row["what"]): row for lik, rows in saved_rows.items() for row in rows
                if "failed" not in row and "hypotest_failed" not in row}
    # Rows of the file outside this selection stay in it, and in the table, after this run's.
    selected = {(lik, row_name(engine, optimizer)) for lik in likelihoods for engine, optimizer in engines}
    results = {lik: [row for row in rows if (lik, row["what"]) not in selected]
               for lik, rows in saved_rows.items()}
    for likelihood in likelihoods:
        rows = results.setdefault(likelihood, [])
        for engine, optimizer in engines:
            what = row_name(engine, optimizer)
            if (likelihood, what) in done:
                rows.append(done[(likelihood, what)])
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {likelihood}: {what}", file=sys.stderr, flush=True)
            row = run_worker(likelihood, engine, optimizer, args.repeat, "fit", args.timeout, args.budget)
            if not args.no_hypotest and "skipped" not in row:
                tested = run_worker(likelihood, engine, optimizer, args.repeat, "hypotest",
                                    args.timeout, args.budget)
                if "failed" in tested or "skipped" in tested:
                    row["hypotest_failed"] = tested.get("failed") or tested.get("skipped")
                else:
                    row.update(tested)
            row.update(what=what, repeat=args.repeat, budget=args.budget)
            row["load_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            rows.append(row)
            if args.json:
                Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=1) + "\n")
    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.support import pallets

    for likelihood, rows in results.items():
        for row in rows:
            row["label"] = pallets.label(likelihood, pallets.signal_patch(likelihood))
    command = "scripts/root-compare " + " ".join(argv)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=1) + "\n")
    print(markdown(results, info, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
