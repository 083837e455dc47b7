"""pyhf over its dependencies' releases: one pyhf commit measured in one stack per release
of one package (``scripts/stack-sweep``).

Each release gets a stack (``stack.py``): the newest stack for pyhf main with the swept
package pinned to that release and, where pip can install them together, every other
key package kept at the newest stack's version (else pip's choice, named on the page).
asv measures the key workloads in each, into a results folder of the sweep's own
(``.asv/sweep/<package>/results``: never the nightly's), and ``sweep_page`` draws each
workload's time and CLs against the release, per backend.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import asvconf, childenv, mainjob, sweep_pages
from .aside import built_aside
from . import results as resultslib
from . import stack as stacklib
from .support import settings

REPO_ROOT = asvconf.REPO_ROOT
WORK_DIR = sweep_pages.SWEEP_DIR
#: How many of the newest releases a sweep takes by default.
DEFAULT_LAST = {"jax": 6, "jaxlib": 6, "numpy": 4, "scipy": 4, "iminuit": 4}
#: The key workloads, NumPy and JAX on the CPU: (label, benchmark, parameters after backend).
WORKLOADS = (
    ("hypotest", "bench_hypotest.AsymptoticCLs.time_hypotest_warm", "'cpu', 'sbottom/RegionB'"),
    ("fit", "bench_fit.MaximumLikelihoodFit.time_unconditional_fit",
     "'cpu', 'scipy', 'sbottom/RegionB'"),
    ("logpdf", "bench_model.Logpdf.time_logpdf", "'cpu', 'sbottom/RegionB'"),
    ("batched logpdf (1000)", "bench_model.BatchedLogpdf.time_batched_logpdf",
     "'cpu', '64b', 1000"),
    ("CLs", "bench_hypotest.AsymptoticCLs.track_cls_obs", "'cpu', 'sbottom/RegionB'"),
)
BACKENDS = ("numpy", "jax")


class SweepError(RuntimeError):
    pass


def selection(workloads=WORKLOADS, backends=BACKENDS):
    """asv --bench regexes of the sweep's workloads."""
    alternatives = "|".join(backends)
    return [rf"^{re.escape(name)}\('({alternatives})', {re.escape(rest)}\)$"
            for _, name, rest in workloads]


def published_versions(python_exe, package, runner=subprocess.run):
    """The releases of ``package`` the registry serves for ``python_exe``, newest first."""
    done = runner([str(python_exe), "-m", "pip", "index", "versions", package],
                  capture_output=True, text=True)
    match = re.search(r"Available versions:\s*(.+)", done.stdout or "")
    if done.returncode != 0 or not match:
        raise SweepError(f"the registry lists no releases of {package} for {python_exe}: "
                         f"{(done.stderr or done.stdout or '').strip()[-300:]}")
    return [v.strip() for v in match.group(1).split(",") if v.strip()]


def stacks_for(req, newest, package, versions, python_exe, runner=subprocess.run):
    """[(version, Stack or None, note)]: ``newest`` with ``package`` at each version; the
    other key packages kept where pip can install them together, else pip's choice."""
    package = resultslib.requirement_name(package)
    out = []
    for version in versions:
        kept = {**newest.versions, package: version}
        for group in stacklib.GROUPS:  # released together: let pip match the partners
            if package in group:
                for partner in group:
                    if partner != package:
                        kept.pop(partner, None)
        try:
            stack = stacklib.make_stack(req, newest.python, kept, python_exe, runner=runner)
            note = ""
        except stacklib.StackError:
            try:
                stack = stacklib.make_stack(req, newest.python, {package: version}, python_exe,
                                            runner=runner)
            except stacklib.StackError as err:
                out.append((version, None, f"not installable with Python {newest.python}: {err}"))
                continue
            swept = stacklib.group_of(package)
            moved = [c for c in newest.changes(stack) if c[0] not in (*swept, "python")]
            note = f"pip moved {stacklib.describe_changes(moved)}" if moved else ""
        out.append((version, stack, note))
    return out


def run_sweep(pyhf_repo, commit, stacks, results_dir, machine, python_exe, bench):
    """asv run ``commit`` in each stack; {version: asv's exit status}."""
    hashfile = WORK_DIR / "commit.txt"
    hashfile.parent.mkdir(parents=True, exist_ok=True)
    hashfile.write_text(commit + "\n")
    env = childenv.child_environ({**resultslib.run_context_env(results_dir, machine, bench),
                                  **stacklib.path_env(python_exe)})
    env.setdefault(settings.SAMPLES, str(mainjob.QUICK_SAMPLES))
    statuses = {}
    for version, stack, _ in stacks:
        if stack is None:
            continue
        config = asvconf.write_config(asvconf.derive_config(
            repo=pyhf_repo, matrix="current", stack=stack, results_dir=results_dir,
            html_dir=WORK_DIR / "html-unused"), WORK_DIR / f"asv.{version}.json")
        subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", "--machine", machine,
                        "--config", str(config)], cwd=REPO_ROOT, env=env, check=False,
                       stdout=subprocess.DEVNULL)
        command = [sys.executable, "-m", "asv", "run", "--machine", machine, "--show-stderr",
                   "--skip-existing", *[a for b in bench for a in ("--bench", b)],
                   f"HASHFILE:{hashfile}", "--config", str(config)]
        print(f"== {stack.describe()}", flush=True)
        statuses[version] = subprocess.run(command, cwd=REPO_ROOT, env=env).returncode
    return statuses


def sweep_table(results_dir, machine, package, commit, workloads=WORKLOADS, backends=BACKENDS):
    """[(StackRecord, {(workload label, backend): value or None})], oldest release first."""
    stacks = resultslib.load_stacks(results_dir, machine)
    rows = []
    for loaded in resultslib.load_machine(results_dir, machine):
        record = stacks.get((loaded.commit, loaded.env_name))
        if loaded.commit != commit or record is None:
            continue
        values = {}
        for label, name, rest in workloads:
            for backend in backends:
                params = (f"'{backend}'", *[p.strip() for p in rest.split(",")])
                measurement = loaded.get(name, params)
                values[(label, backend)] = measurement.value if measurement and \
                    measurement.state == resultslib.OK else None
        rows.append((record, values))
    key = lambda row: tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+]", row[0].version(
        package) or "0"))
    return sorted(rows, key=key)


def largest_change(rows, package, workloads=WORKLOADS, backends=BACKENDS):
    """(ratio, workload, backend, from version, to version): the largest change between two
    neighbouring releases, or None."""
    best = None
    for (a, va), (b, vb) in zip(rows, rows[1:]):
        for label, _, _ in workloads:
            for backend in backends:
                x, y = va.get((label, backend)), vb.get((label, backend))
                if x and y and x > 0 and y > 0:
                    ratio = y / x
                    size = max(ratio, 1 / ratio)
                    if best is None or size > best[0]:
                        best = (size, ratio, label, backend, a.version(package), b.version(package))
    return best[1:] if best else None


def _fmt(label, value):
    if value is None:
        return "n/a"
    return f"{value:.6g}" if label == "CLs" else f"{value * 1e3:.3g} ms"


def sweep_page(results_dir, machine, package, commit, out_dir, notes=()):
    """Markdown and HTML tables and one plot per workload under ``out_dir``; the index path."""
    rows = sweep_table(results_dir, machine, package, commit)
    if not rows:
        raise SweepError(f"no results of {commit[:8]} with a recorded stack in "
                         f"{results_dir}/{machine}: nothing to show")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = [package, "stack", *[f"{label} {backend}" for label, _, _ in WORKLOADS
                                  for backend in BACKENDS]]
    table = [[r.version(package) or "?", r.describe(),
              *[_fmt(label, values[(label, backend)]) for label, _, _ in WORKLOADS
                for backend in BACKENDS]] for r, values in rows]
    images = _plots(rows, package, out_dir)
    change = largest_change(rows, package)
    if change:
        ratio, label, backend, old, new = change
        summary = (f"Largest change between neighbouring releases: {label} on {backend} "
                   f"x{ratio:.3f} from {package} {old} to {new}.")
    else:
        summary = "Fewer than two releases measured: no change to show."
    intro = (f"pyhf `{commit[:8]}` on `{machine}`, measured in one stack per release of "
             f"{package}: NumPy and JAX on the CPU, three samples each (time: asv's median). "
             "The other packages stay at the newest stack's versions where pip installs them "
             "together.")
    md = [f"# pyhf across {package} releases", "", intro, "", summary, "",
          "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    md += ["| " + " | ".join(row) + " |" for row in table]
    md += [""] + [f"- {note}" for note in notes] + [""] + [f"![{name}]({name})" for name in images]
    resultslib.atomic_write_text(out_dir / "index.md", "\n".join(md) + "\n")
    cells = lambda row, tag: "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)
    page = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
            f"<title>pyhf across {html.escape(package)} releases</title>",
            "<style>body{font-family:sans-serif;margin:1.5em}td,th{border:1px solid #ccc;"
            "padding:3px 8px;font-size:88%}table{border-collapse:collapse}</style></head><body>",
            f"<h1>pyhf across {html.escape(package)} releases</h1>",
            f"<p>{html.escape(intro)}</p><p><b>{html.escape(summary)}</b></p>",
            "<table><tr>" + cells(header, "th") + "</tr>"]
    page += ["<tr>" + cells(row, "td") + "</tr>" for row in table]
    page += ["</table><ul>"] + [f"<li>{html.escape(n)}</li>" for n in notes] + ["</ul>"]
    page += [f"<figure><img src='{name}' alt='{name}'></figure>" for name in images]
    page.append("</body></html>")
    return resultslib.atomic_write_text(out_dir / "index.html", "\n".join(page) + "\n")


def _plots(rows, package, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    versions = [r.version(package) or "?" for r, _ in rows]
    names = []
    for label, _, _ in WORKLOADS:
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        for backend in BACKENDS:
            ys = [values[(label, backend)] for _, values in rows]
            scale = 1 if label == "CLs" else 1e3
            ax.plot(versions, [y * scale if y is not None else float("nan") for y in ys],
                    marker="o", label=backend)
        ax.set_xlabel(package)
        ax.set_ylabel("CLs (observed)" if label == "CLs" else "time (ms)")
        ax.set_title(f"{label}, pyhf across {package} releases")
        ax.legend()
        fig.tight_layout()
        name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") + ".png"
        fig.savefig(out_dir / name, dpi=90)
        plt.close(fig)
        names.append(name)
    return names


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/stack-sweep",
        description="Measure one pyhf commit across the releases of one package (the newest "
        "stack otherwise) and draw each key workload against the release.")
    parser.add_argument("package", help="jax, numpy, scipy, iminuit ...")
    parser.add_argument("--versions", nargs="+", help="these releases (default: the newest few)")
    parser.add_argument("--last", type=int, help="the newest N releases (default: 6 for jax, 4 "
                        "for numpy, scipy and iminuit)")
    parser.add_argument("--pyhf", default=str(mainjob.DEFAULT_BUNDLE), metavar="BUNDLE|CLONE|URL",
                        help="pyhf's git history (default: ../shared/pyhf/pyhf-main.bundle)")
    parser.add_argument("--revision", default="main", help="the pyhf commit (default: main)")
    parser.add_argument("--machine", help="asv machine name (default: this host's name)")
    parser.add_argument("--html-dir", default=str(REPO_ROOT / "html"),
                        help="the dashboard the page joins, as <html>/stack-sweep/PACKAGE "
                        "(default: html/; every later publish takes it along)")
    args = parser.parse_args(argv)
    package = resultslib.requirement_name(args.package)
    mirror = settings.pallet_mirror() or (mainjob.DEFAULT_MIRROR if mainjob.DEFAULT_MIRROR.is_dir()
                                          else None)
    if mirror:
        os.environ[settings.PALLET_MIRROR] = str(Path(mirror).resolve())
    try:
        pyhf_repo = mainjob.mirror_history(args.pyhf, WORK_DIR / "pyhf-history.git")
        (commit,) = mainjob.resolve_revisions(pyhf_repo, [args.revision])
        req = asvconf.matrix_requirements("current")
        newest, python_exe = stacklib.choose(req, repo=pyhf_repo)
        versions = args.versions or published_versions(python_exe, package)[
            : args.last or DEFAULT_LAST.get(package, 4)]
        print(f"pyhf {commit[:8]} across {package} {', '.join(versions)}; newest stack: "
              f"{newest.describe()}")
        stacks = stacks_for(req, newest, package, versions, python_exe)
        notes = [f"{package} {v}: {note}" for v, _, note in stacks if note]
        for note in notes:
            print(note)
        results_dir = WORK_DIR / package / "results"
        machine = args.machine or mainjob.asvconf_machine_name()
        statuses = run_sweep(pyhf_repo, commit, stacks, results_dir, machine, python_exe,
                             selection())
        notes += [f"{package} {v}: asv run exited with {rc}" for v, rc in statuses.items()
                  if rc not in (0,)]
        with built_aside(sweep_pages.page_dir(package)) as folder:
            sweep_page(results_dir, machine, package, commit, folder, notes)
        page = sweep_pages.page_dir(package) / "index.html"
        if Path(args.html_dir).is_dir():
            with built_aside(Path(args.html_dir) / sweep_pages.HTML_FOLDER / package) as folder:
                shutil.copytree(sweep_pages.page_dir(package), folder, dirs_exist_ok=True)
            page = Path(args.html_dir) / sweep_pages.HTML_FOLDER / package / "index.html"
    except (SweepError, stacklib.StackError, mainjob.MainJobError, ValueError) as err:
        print(f"stack-sweep: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"page": str(page), "results": str(results_dir)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
