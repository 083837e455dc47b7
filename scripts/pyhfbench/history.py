"""Which pyhf commits a run measures, read from pyhf's git history as it is.

pyhf's releases v0.7.1 to v0.7.6 are on ``release/v0.7.x``, which left
``main`` after v0.7.0: tags are found on every branch, main's history is
its first-parent line, and what a commit needs (the legacy environment for
code that calls ``np.product``) is read from its source, never its version.
"""

import re

from . import runtools
from .mainjob import support_module

#: Releases older than this are not backfilled: they need Python and build tools of their time.
OLDEST_BACKFILLED_RELEASE = (0, 6, 0)
RELEASE_TAG = re.compile(r"v?(\d+)\.(\d+)\.(\d+)$")
#: The branch pyhf's v0.7.x releases are on: main's history since it forked is what matters.
RELEASE_BRANCH = "release/v0.7.x"


class HistoryError(RuntimeError):
    pass


def git(repo, *args, check=True):
    return runtools.git(repo, *args, check=check, error=HistoryError)


def release_tags(repo, oldest=OLDEST_BACKFILLED_RELEASE):
    """[(tag, commit)] of final releases from ``oldest`` on, on any branch, newest first."""
    out = git(repo, "tag", "--list", "--format=%(refname:short) %(objectname) %(*objectname)").stdout
    found = []
    for line in out.splitlines():
        name, *objects = line.split()
        match = RELEASE_TAG.match(name)
        if not match or tuple(int(x) for x in match.groups()) < tuple(oldest):
            continue
        found.append((tuple(int(x) for x in match.groups()), name, objects[-1]))
    return [(name, commit) for _, name, commit in sorted(found, reverse=True)]


def first_parent(repo, branch, since=None):
    """The branch's first-parent commits after ``since`` (all without it), oldest first."""
    spec = f"{since}..{branch}" if since else branch
    return list(reversed(git(repo, "rev-list", "--first-parent", spec, "--").stdout.split()))


def fork_point(repo, branch, other=RELEASE_BRANCH):
    """Where ``other`` left ``branch`` (main's v0.7.x branch point), or None without it."""
    for ref in (f"refs/heads/{other}", f"refs/remotes/origin/{other}"):
        if git(repo, "rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0:
            return git(repo, "merge-base", branch, ref).stdout.strip() or None
    return None


def backend_removals(repo, branch, since=None):
    """First-parent commits of ``branch`` that deleted a pyhf backend module, oldest first."""
    spec = [f"{since}..{branch}" if since else branch]
    out = git(repo, "log", "--first-parent", "--diff-filter=D", "--format=%H", *spec, "--",
              support_module("pyhf_compat").BACKEND_MODULES_PATHSPEC).stdout
    return list(reversed(out.split()))


def evenly_spaced(commits, count):
    """``count`` commits spread evenly over ``commits`` (oldest first), both ends included."""
    if count <= 0 or not commits:
        return []
    if count >= len(commits):
        return list(commits)
    if count == 1:
        return [commits[-1]]
    step = (len(commits) - 1) / (count - 1)
    return list(dict.fromkeys(commits[round(i * step)] for i in range(count)))


def backfill_plan(repo, branch, count, since=None):
    """Commits of ``branch`` for a first history, oldest first: ``count`` evenly spaced since
    ``since`` (default: the v0.7.x branch point), the branch head, and every backend removal
    with the commit before it, so that each removal shows as a step between two points."""
    since = since or fork_point(repo, branch)
    line = first_parent(repo, branch, since)
    if not line:
        return []
    position = {commit: i for i, commit in enumerate(line)}
    chosen = set(evenly_spaced(line, count)) | {line[-1]}
    for removal in backend_removals(repo, branch, since):
        i = position.get(removal)
        if i is not None:
            chosen.add(removal)
            if i > 0:
                chosen.add(line[i - 1])
    return [commit for commit in line if commit in chosen]


def needs_legacy_environment(repo, commit):
    """Whether pyhf's source at ``commit`` calls ``np.product`` (removed in NumPy 2)."""
    pattern = support_module("pyhf_compat").NUMPY_PRODUCT_CALL.replace(r"\b", r"\<")
    result = git(repo, "grep", "--quiet", "-E", pattern, commit, "--", "src/pyhf", check=False)
    if result.returncode not in (0, 1):
        raise HistoryError(f"git grep at {commit[:8]} in {repo} failed: {result.stderr.strip()}")
    return result.returncode == 0
