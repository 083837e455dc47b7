"""End to end: ``scripts/nightly --stack`` on pyhf's real history, the stack changing under it.

Night 1 measures main's tip in a pinned stack (``--stack``, every package pinned: no
registry look-up); a commit that changes nothing is added; night 2 names a stack that
cannot be installed (an iminuit release that does not exist): the upstream lane reports
it as an ``upstream`` finding naming iminuit and both versions, with pip's error, while
the new commit is measured and judged in the last stack that worked; night 3 names a
stack with an older NumPy that works: main's tip is measured in it, it becomes the stack
for pyhf's commits, and the results say the versions it was pinned to.
"""

import json

import pytest

from helpers.nightly_lab import Lab
from pyhfbench import results as resultslib

pytestmark = pytest.mark.slow

OLD = {"numpy": "2.4.6", "scipy": "1.17.1", "iminuit": "2.33.0"}
BROKEN = dict(OLD, iminuit="0.0.1")
OLDER_NUMPY = dict(OLD, numpy="2.4.5")


def stack_file(lab, name, pins):
    path = lab.work / f"{name}.txt"
    path.write_text("python==3.11\n" + "".join(f"{k}=={v}\n" for k, v in pins.items()))
    return str(path)


def stacks_of(lab, commit):
    return {record.env_name: record for (c, _), record in resultslib.load_stacks(
        lab.results, lab.machine).items() if c == commit}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return Lab(tmp_path_factory.mktemp("stack-e2e"))


def test_a_stack_change_is_told_apart_from_pyhf_commits(lab):
    tip = lab.commits["main"]
    first = lab.nightly("--stack", stack_file(lab, "old", OLD), "--no-explain", name="night 1")
    assert first.code == 0, first.output[-3000:]
    (record,) = stacks_of(lab, tip).values()
    assert record.python.startswith("3.11.")
    assert {name: record.version(name) for name in OLD} == OLD
    assert json.loads((lab.workdir / "stack.json").read_text())["pins"] == OLD

    noop = lab.add("noop", files={"NOOP.md": "nothing measurable\n"})
    second = lab.nightly("--stack", stack_file(lab, "broken", BROKEN), "--no-explain",
                         name="night 2")
    assert second.code == 1, second.output[-3000:]
    kinds = [(f["kind"], f["commit"]) for f in second.report["findings"]]
    assert kinds == [("upstream", noop)], kinds  # main's tip in the new stack; none against it
    (finding,) = second.report["findings"]
    assert finding["upstream"]["packages"] == [["iminuit", "2.33.0", "0.0.1"]]
    assert "iminuit 2.33.0 -> 0.0.1" in finding["detail"]
    assert "pip install" in finding["detail"] and "iminuit==0.0.1" in finding["detail"]
    assert "## Upstream" in second.markdown
    # The new commit was measured in the last stack that worked, which stays the stack.
    (record,) = stacks_of(lab, noop).values()
    assert record.version("iminuit") == "2.33.0"
    assert json.loads((lab.workdir / "stack.json").read_text())["pins"] == OLD

    third = lab.nightly("--stack", stack_file(lab, "older", OLDER_NUMPY), "--no-explain",
                        name="night 3")
    assert third.code in (0, 1), third.output[-3000:]
    assert all(f["kind"] == "upstream" for f in (third.report or {}).get("findings", []))
    measured = {r.version("numpy") for r in stacks_of(lab, noop).values()}
    assert measured == {"2.4.6", "2.4.5"}
    assert json.loads((lab.workdir / "stack.json").read_text())["pins"] == OLDER_NUMPY
