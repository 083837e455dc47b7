"""Where a slowdown's cost went: the functions whose cost grew most between two commits.

Callgrind's per-function counts see the interpreter's C functions, not
pyhf's Python functions, so the measured call itself is profiled: cProfile
on CPU time (``time.process_time``) for a single-threaded CPU workload, wall
time on a GPU or where other threads share the work (``paired.choose_clock``).
Two workers (``benchmarks/support/paired_worker.py``, the paired
confirmation's), one per commit, are asked for a profile of one call
alternately (A B, B A, ...), ``rounds`` times each; each function's own
("self") and inclusive cost is the median over the rounds.

pyhf's functions are kept apart (keyed by file inside pyhf and qualified
name, so a function moved down a file is still the same function); everything
else is grouped by package (``profile.area_of``: numpy, scipy, the standard
library; built-in methods by the package of their type). Rows are ranked by
the growth of their own cost; the chain of inclusive costs from the benchmark
down to the first pyhf function says through which calls it is reached.
"""

import math
import os
import re
import statistics
import subprocess
import time

from . import paired
from .profile import area_of, func_label

#: Profiles per side, alternating.
DEFAULT_ROUNDS = 5
#: Rows kept per explanation.
TOP = 8
GITHUB_BLOB = "https://github.com/scikit-hep/pyhf/blob/"
#: The profiler's own frames.
HARNESS_PACKAGES = ("_lsprof", "cProfile")
SUITE = "benchmarks (this suite)"


# --------------------------------------------------------------------------- one profile

def package_of(func):
    """The package a non-pyhf function is grouped in: numpy, scipy, built-ins, ..."""
    area = area_of(func)
    if area is not None:
        return area if area.startswith(("benchmarks", "python")) else area.split(".")[0]
    # A built-in: by the module of its type or its own (numpy.ufunc, numpy.core._multiarray_umath);
    # list, dict, builtins.len, time.process_time... are the interpreter's own.
    name = func[2]
    owner = re.search(r"of '([\w.]+)' objects", name) or re.search(r"built-in method ([\w.]+)\.", name)
    module = owner.group(1) if owner else ""
    return module.split(".")[0] if "." in module else "built-ins"


def key_of(row, pyhf_root):
    """(key, line): ``("pyhf", path inside pyhf, qualified name)`` or ``("package", name)``."""
    filename, line, name, qualname = row[:4]
    if filename.startswith(pyhf_root + os.sep):
        return ("pyhf", os.path.relpath(filename, pyhf_root), qualname), line
    return ("package", package_of((filename, line, name))), None


def costs(profile):
    """One profile as ``{key: {self, incl, calls, line}}`` and ``{(caller, callee): incl}``.

    A package's inclusive cost is what its callers outside it spent in it.
    """
    rows = profile["rows"]
    keys = [key_of(row, profile["pyhf_root"]) for row in rows]
    nodes, edges = {}, {}
    for (key, line), row in zip(keys, rows):
        if key[0] == "package" and key[1] in HARNESS_PACKAGES:
            continue
        node = nodes.setdefault(key, {"self": 0.0, "incl": 0.0, "calls": 0, "line": line})
        node["self"] += row[5]
        node["calls"] += row[4]
        if key[0] == "package":  # which of its functions: the one with most own cost
            members, member = node.setdefault("members", {}), func_label(tuple(row[:3]))
            members[member] = members.get(member, 0.0) + row[5]
        if key[0] == "pyhf":
            node["incl"] += row[6]
        for caller, edge_incl in row[7]:
            caller_key = keys[caller][0]
            if caller_key == key:
                continue
            edges[(caller_key, key)] = edges.get((caller_key, key), 0.0) + edge_incl
            if key[0] == "package":
                node["incl"] += edge_incl
        if key[0] == "package" and not row[7]:  # the call itself (no caller): all of it
            node["incl"] += row[6]
    return nodes, edges


def median_costs(profiles):
    """Per-function medians over rounds (a function absent from a round costs 0 there)."""
    collapsed = [costs(p) for p in profiles]
    keys = set().union(*(nodes for nodes, _ in collapsed))
    edge_keys = set().union(*(edges for _, edges in collapsed))
    nodes = {}
    for key in keys:
        seen = [n[key] for n, _ in collapsed if key in n]
        nodes[key] = {field: statistics.median([n[key][field] if key in n else 0.0
                                                for n, _ in collapsed])
                      for field in ("self", "incl", "calls")}
        nodes[key]["line"] = seen[0]["line"]
        members = seen[-1].get("members")
        if members:
            nodes[key]["most"] = max(members, key=members.get)
    edges = {k: statistics.median([e.get(k, 0.0) for _, e in collapsed]) for k in edge_keys}
    total = statistics.median([sum(n["self"] for n in c.values()) for c, _ in collapsed])
    return {"nodes": nodes, "edges": edges, "total": total}


# --------------------------------------------------------------------------- comparison

def label(key):
    """``pyhf.tensor.numpy_backend.numpy_backend.poisson_logpdf``, or the package's name."""
    if key[0] == "package":
        return key[1]
    module = key[1].removesuffix(".py").replace(os.sep, ".").removesuffix(".__init__")
    return ("pyhf" if module == "__init__" else f"pyhf.{module}") + f".{key[2]}"


def compare(before, after, top=TOP):
    """Rows of the functions whose own cost grew most (largest growth first)."""
    zero = {"self": 0.0, "incl": 0.0, "calls": 0, "line": None}
    rows = []
    for key in set(before["nodes"]) | set(after["nodes"]):
        b, a = before["nodes"].get(key, zero), after["nodes"].get(key, zero)
        rows.append({"key": list(key), "function": label(key), "pyhf": key[0] == "pyhf",
                     "path": key[1] if key[0] == "pyhf" else None,
                     "line": a["line"] or b["line"], "self_before": b["self"],
                     "self_after": a["self"], "incl_before": b["incl"], "incl_after": a["incl"],
                     "calls_before": b["calls"], "calls_after": a["calls"],
                     "most": a.get("most") or b.get("most")})
    rows.sort(key=lambda r: -(r["self_after"] - r["self_before"]))
    return [r for r in rows if r["self_after"] > r["self_before"]][:top]


def chain(before, after, key, limit=40):
    """From the benchmark down to ``key``: always up through the caller that spent most in it."""
    path, seen = [tuple(key)], {tuple(key)}
    while len(path) < limit:
        callers = [(incl, caller) for (caller, callee), incl in after["edges"].items()
                   if callee == path[-1] and caller not in seen]
        if not callers:
            break
        _, caller = max(callers)
        path.append(caller)
        seen.add(caller)
        if caller == ("package", SUITE):
            break
    zero = {"incl": 0.0}
    return [{"function": label(k), "incl_before": before["nodes"].get(k, zero)["incl"],
             "incl_after": after["nodes"].get(k, zero)["incl"]} for k in reversed(path)]


# --------------------------------------------------------------------------- sources

def blob_base(commit_url):
    """``https://github.com/scikit-hep/pyhf/blob/`` from the report's commit-URL prefix."""
    match = re.match(r"(.*)/commit/?$", commit_url or "")
    return f"{match.group(1)}/blob/" if match else GITHUB_BLOB


def source_path(mirror, commit, path):
    """``src/pyhf/<path>`` or ``pyhf/<path>``, whichever pyhf's tree has at ``commit`` (or None)."""
    for layout in ("src/pyhf/", "pyhf/"):
        found = subprocess.run(["git", "-C", str(mirror), "cat-file", "-e",
                                f"{commit}:{layout}{path}"], capture_output=True)
        if found.returncode == 0:
            return layout + path
    return None


def add_locations(rows, mirror, commit, commit_url):
    """Each pyhf row's file in pyhf's tree at ``commit`` and its link (``#L<line>``)."""
    for row in rows:
        if not row["pyhf"]:
            continue
        where = source_path(mirror, commit, row["path"]) if mirror else None
        row["source"] = where
        row["url"] = (f"{blob_base(commit_url)}{commit}/{where}#L{row['line']}"
                      if where and row["line"] else None)


# --------------------------------------------------------------------------- a finding

def workload_of(finding):
    """The counted workload of an instruction finding (``instruction_workloads.spec``), else None."""
    if finding.kind != "more_instructions" or "workload" not in finding.params:
        return None
    from .mainjob import support_module

    return support_module("instruction_workloads").spec(finding.params.get("backend", "numpy"),
                                      finding.params["workload"])


def profile_pair(baseline, candidate, rounds, device="cpu"):
    """(clock, before, after): median costs of ``rounds`` profiles a side, taken alternately."""
    clock, pairs = paired.alternate(baseline, candidate, rounds, device,
                                    measure=lambda worker, clock: worker.profile(clock))
    return clock, median_costs([p[0] for p in pairs]), median_costs([p[1] for p in pairs])


def explain_finding(finding, env, installs, mirror=None, commit_url=None,
                    rounds=DEFAULT_ROUNDS, top=TOP):
    """Profile a slowdown finding's baseline and commit alternately; the explanation dict."""
    started, built = time.monotonic(), len(installs.built)
    sides = paired.sides_for(finding, env, {c: installs(c) for c in
                                            (finding.baseline_commit, finding.commit)},
                             workload=workload_of(finding))
    clock, before, after = profile_pair(*sides, rounds, paired.device_of(finding))
    return explanation(before, after, clock, rounds, mirror, finding.commit, commit_url, top,
                       builds=len(installs.built) - built, seconds=time.monotonic() - started)


def explanation(before, after, clock, rounds, mirror, commit, commit_url, top=TOP, **cost):
    rows = compare(before, after, top)
    add_locations(rows, mirror, commit, commit_url)
    first = next((r for r in rows if r["pyhf"]), None)
    return {"clock": clock, "rounds": rounds, "total_before": before["total"],
            "total_after": after["total"], "functions": rows,
            "chain": chain(before, after, first["key"]) if first else [], **cost}


def growth(before, after):
    """after / before - 1, or inf for something new."""
    return after / before - 1 if before > 0 else math.inf

