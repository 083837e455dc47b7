"""The gate's sensitivity study: slowdowns of a measured size, each gated by one nightly.

On a clone of pyhf's real history (the bundle beside the checkout), with a
CPU-bound process beside the whole study (``--busy``): the branch head is
measured once (the baseline); then each night resets ``main`` to it, adds one
commit, and runs ``scripts/nightly`` narrowed to one workload's instruction
count and its matching time benchmark. The commit is either a control (a file
outside pyhf's package: nothing measurable) or an injected slowdown: pyhf's
``Model.logpdf`` evaluates the density once more on a share ``rate`` of its
calls (real work on the hot path every fit runs, deterministic, not a sleep).

The rate of each level is calibrated, not assumed: a probe night with rate 1
measures the share of the workload's instructions that the density takes
(the lane's counts) and its share of the CPU time (the night's paired
ratio), and a level of f gets rate (f + 0.1 %) / share (``MARGIN``): of the
instructions for a level ``f``, of the CPU time for ``fcpu`` (``10cpu``; the
density's code does more instructions per cycle than the rest of the
hypotest, so its share of the time is the smaller). Each level's injected fraction is then
measured twice: the instruction ratio of its commits (the lane's own counts)
and their paired CPU-time ratio against the baseline (``--calibration-pairs``
pairs, outside the nights). Per night and lane it records what was flagged:
the instruction lane (``more_instructions``), the paired CPU time (a
``slower`` the paired run confirmed) and today's wall-time rule (the gate
without confirmation, x1.25 and Mann-Whitney p < 0.002, on the night's asv
samples), with the night's wall time and load average.

    scripts/sensitivity run --work DIR [--levels control,2,10,25,5] [--nights 5]
    scripts/sensitivity table --work DIR      # the table of docs/gate-lanes.md

Results: ``DIR/study.json`` (baseline, share, rates), ``DIR/nights.jsonl`` (one
line a night), ``DIR/calibration.json`` (the measured fractions). A run started
again skips the nights already recorded.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import gate as gatelib
from . import gate_rules, localrepo, paired
from . import results as resultslib
from .support import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLE = REPO_ROOT.parent / "shared" / "pyhf" / "pyhf-main.bundle"
MACHINE = "sensitivity"
WORKLOAD = "baseline hypotest 10 bins"
COUNTS = "bench_instructions.BaselineInstructions.track_instructions"
TIME = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"
COUNT_KEY = (COUNTS, ("'numpy'", "'cpu'", repr(WORKLOAD)))
TIME_KEY = (TIME, ("'numpy'", "'cpu'", "10"))
BENCH = [re.escape(f"{name}({', '.join(params)})") for name, params in (COUNT_KEY, TIME_KEY)]
LEVELS = ("control", "2", "10", "25", "5")

PDF = "src/pyhf/pdf.py"
LOGPDF_CALL = "            result = self.make_pdf(pars).log_prob(data)\n"
LOGGER = "log = logging.getLogger(__name__)\n"


def injection(rate):
    """pdf.py substitutions: Model.logpdf evaluates the density again on a share ``rate``
    of its calls (an accumulator, so the share is exact and the same in every process)."""
    extra = (f"            _INJECTED[0] += {rate!r}  # injected: sensitivity study\n"
             "            while _INJECTED[0] >= 1.0:\n"
             "                _INJECTED[0] -= 1.0\n"
             "                self.make_pdf(pars).log_prob(data)\n")
    return {PDF: [(LOGGER, LOGGER + "_INJECTED = [0.0]\n"), (LOGPDF_CALL, extra + LOGPDF_CALL)]}


#: Added to each level (a tenth of a percentage point): a 2 % level exactly at the instruction
#: lane's 2 % threshold would be a coin flip on the 0.02 % a count repeats to.
MARGIN = 0.001


def rate_for(level, share):
    """The injection rate that adds ``level`` percent (plus ``MARGIN``) of the workload, given
    the density's share of it (measured by the probe night)."""
    return (float(level) / 100 + MARGIN) / share


def level_rate(level, state, nights):
    """The rate of a level: ``f`` of the instructions, ``fcpu`` of the CPU time (the share
    of the time from the probe night's paired ratio)."""
    if not level.endswith("cpu"):
        return rate_for(level, state["share"])
    probe = next(n for n in nights if n["level"] == "probe")
    return rate_for(level[:-3], probe["paired"]["ratio"] - 1)


def level_label(level):
    if level == "control":
        return "control"
    return f"{level[:-3]} % of CPU time" if level.endswith("cpu") else f"{level} % of instructions"


class Study:
    def __init__(self, work, publish=False, pairs=41):
        self.work = Path(work).resolve()
        self.repo = self.work / "pyhf"
        self.workdir = self.work / "nightly"
        self.results = self.work / "results"
        self.reports = self.work / "reports"
        self.publish, self.pairs = publish, pairs
        self.state_path = self.work / "study.json"
        self.nights_path = self.work / "nights.jsonl"

    # state ----------------------------------------------------------------
    def state(self):
        return json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}

    def save(self, **fields):
        self.state_path.write_text(json.dumps(dict(self.state(), **fields), indent=1))

    def nights(self):
        if not self.nights_path.is_file():
            return []
        return [json.loads(line) for line in self.nights_path.read_text().splitlines() if line]

    # git ------------------------------------------------------------------
    def prepare(self):
        if not (self.repo / ".git").is_dir():
            self.work.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "clone", "--quiet", str(BUNDLE), str(self.repo)], check=True)
        if "base" not in self.state():
            base = localrepo._git(self.repo, "rev-parse", "main")
            self.save(base=base, base_date=int(localrepo._git(self.repo, "log", "-1",
                                                              "--format=%ct", base)))

    def commit(self, label, index, rate=None):
        """``main`` reset to the baseline, plus one commit (injected, or a control)."""
        state = self.state()
        localrepo._git(self.repo, "checkout", "--quiet", "-B", "main", state["base"])
        localrepo._git(self.repo, "reset", "--quiet", "--hard", state["base"])
        serial = len(self.nights()) + 1
        note = {"SENSITIVITY.txt": f"{label} night {index}\n"}
        return localrepo.add_commit(
            self.repo, f"sensitivity study: {label}, night {index}",
            replace=injection(rate) if rate else None, files=note,
            date=state["base_date"] + 600 * serial)

    # a night ----------------------------------------------------------------
    def nightly(self, publish=None, bench=BENCH, only=WORKLOAD):
        command = [sys.executable, str(REPO_ROOT / "scripts" / "nightly"), "--repo", str(self.repo),
                   "--machine", MACHINE, "--machine-file", str(self.work / "asv-machine.json"),
                   "--matrix", "numpy", "--workdir", str(self.workdir),
                   "--results-dir", str(self.results), "--env-dir", str(self.work / "env"),
                   "--html-dir", str(self.work / "html"), "--report-dir", str(self.reports)]
        command += [arg for b in bench for arg in ("--bench", b)]
        command += [] if (self.publish if publish is None else publish) else ["--no-publish"]
        env = dict(os.environ)
        env.pop(settings.INSTRUCTION_WORKLOADS, None)
        if only is not None:
            env[settings.INSTRUCTION_WORKLOADS] = f"^{re.escape(only)}$"
        started, load = time.monotonic(), os.getloadavg()[0]
        with open(self.work / "nightly.log", "a") as log:
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  cwd=REPO_ROOT).returncode
        return code, round(time.monotonic() - started, 1), [load, os.getloadavg()[0]]

    def measured(self, commit):
        found = {c.commit: c for c in resultslib.load_machine(self.results, MACHINE)}
        return found.get(commit)

    def keep_base_wheel(self):
        """The baseline's wheel stays in asv's build cache (8 commits), as a real night's
        baseline, the commit before, always is: its timestamp refreshed before each night."""
        for stamp in self.work.glob(f"env/*/asv-build-cache/{self.state()['base']}.timestamp"):
            stamp.touch()

    def night(self, label, index, rate=None, publish=None):
        commit = self.commit(label, index, rate)
        self.keep_base_wheel()
        # Nights are independent: a broken one's planned commit is not carried into the next.
        (self.workdir / "journal.json").unlink(missing_ok=True)
        code, seconds, load = self.nightly(publish)
        base = self.measured(self.state()["base"])
        after = self.measured(commit)
        path = self.reports / "regressions.json"
        report = json.loads(path.read_text()) if path.is_file() else {}
        record = {"level": label, "night": index, "rate": rate, "commit": commit,
                  "exit": code, "night_s": seconds, "load": load,
                  **lanes(report, commit), "wall_rule": self.wall_rule(commit),
                  **ratios(base, after)}
        with open(self.nights_path, "a") as out:
            out.write(json.dumps(record) + "\n")
        return record

    def wall_rule(self, commit):
        """Today's rule on the night's samples: the gate without a confirmation to follow."""
        report = gatelib.run_gate(self.results, MACHINE, commits=[commit],
                                  repo=self.workdir / "pyhf.git", bench=BENCH, write=False)
        return any(f.kind == "slower" and f.benchmark == TIME for f in report.findings)

    # calibration ------------------------------------------------------------
    def paired_ratio(self, commit):
        """The paired CPU-time ratio of ``commit`` against the baseline (``self.pairs`` pairs)."""
        after = self.measured(commit)
        finding = gatelib.Finding("slower", commit, TIME, params={"device": "cpu"},
                                  param_reprs=list(TIME_KEY[1]), env_name=after.env_name,
                                  baseline_commit=self.state()["base"])
        rule = gate_rules.Rule(confirm_pairs=self.pairs)
        scratch = self.work / "paired-scratch"
        try:
            verdict = paired.confirm_finding(finding, self.workdir / "asv.run.json",
                                             self.workdir / "pyhf.git", scratch, rule)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return {k: verdict[k] for k in ("clock", "pairs", "ratio", "ci_low", "ci_high")}

    def paired_nights(self, level, pairs=21, say=print):
        """The paired verdict (the lane's own 21 pairs) on every night of a level, asked
        whether or not the night's gate asked: what the confirmation decides on controls.
        Wheels asv's build cache has let go are put back from ``DIR/wheels/<commit>``."""
        path = self.work / "calibration.json"
        known = json.loads(path.read_text()) if path.is_file() else {}
        saved, verdicts = self.work / "wheels", []
        for n in (n for n in self.nights() if n["level"] == level):
            for cache in self.work.glob("env/*/asv-build-cache"):
                if (saved / n["commit"]).is_dir() and not (cache / n["commit"]).is_dir():
                    shutil.copytree(saved / n["commit"], cache / n["commit"])
                    (cache / f"{n['commit']}.timestamp").touch()
            self.pairs = pairs
            verdict = self.paired_ratio(n["commit"])
            threshold = gate_rules.Rule().confirm_threshold
            verdict["confirmed"] = verdict["ci_low"] > 1 and verdict["ci_high"] >= 1 + threshold
            verdicts.append(dict(verdict, night=n["night"], commit=n["commit"]))
            say(f"{level} night {n['night']}: {paired.describe(dict(verdict, confidence=0.99))}"
                f" -> {'confirmed' if verdict['confirmed'] else 'not confirmed'}")
        known[f"{level} nights, paired"] = verdicts
        path.write_text(json.dumps(known, indent=1))

    def lane_cost(self, say=print):
        """One night of the whole instruction lane (every class, every workload) on a control
        commit: the night's wall time and each class's valgrind child (asv's setup_cache)."""
        commit = self.commit("lane cost", len(self.nights()) + 1)
        code, seconds, load = self.nightly(bench=[r"bench_instructions\."], only=None)
        durations = json.loads(Path(self.measured(commit).path).read_text())["durations"]
        lane = {k: v for k, v in durations.items() if "bench_instructions" in k}
        cost = {"commit": commit, "exit": code, "night_s": seconds, "load": load,
                "setup_cache_s": lane, "lane_s": round(sum(lane.values()), 1)}
        (self.work / "lane-cost.json").write_text(json.dumps(cost, indent=1))
        say(json.dumps(cost, indent=1))

    def run(self, levels, nights, say=print):
        self.prepare()
        state = self.state()
        done = {(n["level"], n["night"]) for n in self.nights()}
        if "share" not in state:
            # The baseline, then the probe (published: the report's workload table with findings).
            localrepo._git(self.repo, "checkout", "--quiet", "-B", "main", state["base"])
            code, seconds, load = self.nightly(publish=True)
            say(f"baseline night: exit {code} in {seconds} s, load {load}")
            if any(v is None for v in ratios(*[self.measured(state["base"])] * 2).values()):
                raise RuntimeError(f"the baseline night (exit {code}) did not measure both "
                                   f"benchmarks: see {self.work}/nightly.log")
            record = self.night("probe", 1, 1.0, publish=True)
            if not record["instructions"]:
                raise RuntimeError(f"the probe night counted nothing: {summary_line(record)}")
            share = record["instructions"]["ratio"] - 1
            self.save(share=share, rates={lv: rate_for(lv, share) for lv in LEVELS
                                          if lv != "control"})
            say(f"probe night: the density is {share:.1%} of the workload's instructions; "
                + summary_line(record))
            state = self.state()
        for level in levels:
            for index in range(1, nights + 1):
                if (level, index) in done:
                    continue
                rate = None if level == "control" else level_rate(level, state, self.nights())
                record = self.night(level, index, rate)
                say(summary_line(record))
            self.calibrate(level)

    def calibrate(self, level):
        """The measured fraction of a level: its instruction ratio, and its paired CPU time."""
        path = self.work / "calibration.json"
        known = json.loads(path.read_text()) if path.is_file() else {}
        first = next((n for n in self.nights() if n["level"] == level and n["instructions"]),
                     None)
        if level in known or first is None:
            return
        known[level] = {"instructions": first["instructions"]["ratio"],
                        "cpu": self.paired_ratio(first["commit"])}
        path.write_text(json.dumps(known, indent=1))


def lanes(report, commit):
    """What the night's gate said at ``commit``: instruction lane and paired time lane."""
    mine = [f for f in report.get("findings", []) + report.get("info", []) if f["commit"] == commit]
    counts = [f for f in mine if f["benchmark"] == COUNTS and f["kind"] == "more_instructions"]
    times = [f for f in mine if f["benchmark"] == TIME and f["kind"] in ("slower", "unconfirmed")]
    conf = (times[0].get("confirmation") or {}) if times else {}
    return {"instruction_lane": bool(counts),
            "paired_lane": any(f["kind"] == "slower" for f in times),
            "paired": {k: conf.get(k) for k in ("ratio", "ci_low", "ci_high", "confirmed")}
            if conf else None,
            "other_findings": [f"{f['kind']} {f['label']}" for f in report.get("findings", [])
                               if f not in counts and f not in times]}


def ratios(base, after):
    """The measured instruction ratio and asv's fastest-sample time ratio of a night."""
    def pick(results, key):
        m = results.get(*key) if results else None
        return m if m is not None and m.state == resultslib.OK else None

    out = {"instructions": None, "asv_min_ratio": None, "lane_s": None}
    counts = (pick(base, COUNT_KEY), pick(after, COUNT_KEY))
    if all(counts):
        out["instructions"] = {"before": counts[0].value, "after": counts[1].value,
                               "ratio": counts[1].value / counts[0].value}
    times = (pick(base, TIME_KEY), pick(after, TIME_KEY))
    if all(t and t.samples for t in times):
        out["asv_min_ratio"] = min(times[1].samples) / min(times[0].samples)
    if after and after.path:
        durations = json.loads(Path(after.path).read_text()).get("durations", {})
        out["lane_s"] = sum(v for k, v in durations.items() if "bench_instructions" in k)
    return out


def summary_line(n):
    ins = n["instructions"]
    return (f"{n['level']} night {n['night']}: exit {n['exit']} in {n['night_s']} s (load "
            f"{n['load'][0]:.1f}-{n['load'][1]:.1f}); instructions "
            f"{'x%.4f' % ins['ratio'] if ins else 'n/a'} -> "
            f"{'flagged' if n['instruction_lane'] else 'silent'}; asv min ratio "
            f"{n['asv_min_ratio'] and round(n['asv_min_ratio'], 3)}, paired "
            f"{n['paired'] and round(n['paired']['ratio'], 3)} -> "
            f"{'flagged' if n['paired_lane'] else 'silent'}; wall rule "
            f"{'flagged' if n['wall_rule'] else 'silent'}")


def table(nights, calibration):
    """The Markdown table: per level, the measured fraction and each lane's catches."""
    lines = ["| injected | instruction ratio | paired CPU ratio (99 % interval) | nights | "
             "instruction lane | paired CPU time | wall-time rule | night s (median) | load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for level in dict.fromkeys(n["level"] for n in nights if n["level"] != "probe"):
        rows = [n for n in nights if n["level"] == level]
        cal = calibration.get(level, {})
        cpu = cal.get("cpu")
        caught = [sum(bool(n[lane]) for n in rows) for lane in
                  ("instruction_lane", "paired_lane", "wall_rule")]
        word = "false findings" if level == "control" else "caught"
        secs = sorted(n["night_s"] for n in rows)[len(rows) // 2]
        loads = [x for n in rows for x in n["load"]]
        lines.append(
            f"| {level_label(level)} | "
            f"{'x%.4f' % cal['instructions'] if cal.get('instructions') else '—'} | "
            + (f"x{cpu['ratio']:.3f} ({cpu['ci_low']:.3f} to {cpu['ci_high']:.3f})" if cpu else "—")
            + f" | {len(rows)} | " + " | ".join(f"{c}/{len(rows)} {word}" for c in caught)
            + f" | {secs} | {min(loads):.1f} to {max(loads):.1f} |")
    return "\n".join(lines)


def detail(nights):
    """One Markdown row a night: what was measured and what each lane said."""
    lines = ["| level | night | exit | instructions | asv fastest-sample ratio | paired ratio "
             "[99 % interval] | instruction lane | paired | wall rule | night s | lane s | load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    flag = lambda value: "flagged" if value else "silent"  # noqa: E731
    for n in nights:
        ins, p = n["instructions"], n["paired"]
        lines.append(" | ".join([
            f"| {n['level']}", str(n["night"]), str(n["exit"]),
            f"x{ins['ratio']:.4f}" if ins else "n/a",
            f"x{n['asv_min_ratio']:.3f}" if n["asv_min_ratio"] else "n/a",
            f"x{p['ratio']:.3f} [{p['ci_low']:.3f}, {p['ci_high']:.3f}]" if p else "not run",
            flag(n["instruction_lane"]), flag(n["paired_lane"]), flag(n["wall_rule"]),
            str(n["night_s"]), f"{n['lane_s']:.0f}" if n["lane_s"] else "n/a",
            f"{n['load'][0]:.1f}, {n['load'][1]:.1f} |"]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/sensitivity", description=__doc__.split(
        "\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the nights (resumes)")
    run.add_argument("--work", required=True, help="the study's folder")
    run.add_argument("--levels", default=",".join(LEVELS),
                     help=f"comma-separated, in order (default {','.join(LEVELS)})")
    run.add_argument("--nights", type=int, default=5)
    run.add_argument("--busy", type=int, default=1, help="CPU-bound processes beside (default 1)")
    run.add_argument("--publish", action="store_true", help="publish each night (default: not)")
    run.add_argument("--calibration-pairs", type=int, default=41)
    ask = sub.add_parser("paired", help="the paired verdict on every night of a level")
    ask.add_argument("--work", required=True)
    ask.add_argument("--level", default="control")
    ask.add_argument("--pairs", type=int, default=21)
    cost = sub.add_parser("lane-cost", help="one night of the whole instruction lane")
    cost.add_argument("--work", required=True)
    show = sub.add_parser("table", help="the table of the nights recorded")
    show.add_argument("--work", required=True)
    show.add_argument("--nights", action="store_true", help="one row a night instead")
    args = parser.parse_args(argv)
    study = Study(args.work, getattr(args, "publish", False), getattr(args, "calibration_pairs", 41))
    if args.command == "lane-cost":
        study.lane_cost()
        return 0
    if args.command == "paired":
        study.paired_nights(args.level, args.pairs)
        return 0
    if args.command == "table":
        path = study.work / "calibration.json"
        print(detail(study.nights()) if args.nights else
              table(study.nights(), json.loads(path.read_text()) if path.is_file() else {}))
        return 0
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    study.work.mkdir(parents=True, exist_ok=True)
    (study.work / "busy.pids").write_text("".join(f"{p.pid}\n" for p in busy))
    try:
        study.run([lv.strip() for lv in args.levels.split(",")], args.nights)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return 0
