"""The stack pyhf is measured in: a Python and the releases of its dependencies.

A ``Stack`` pins the packages that change pyhf's speed (``KEY_PACKAGES``) and the
Python; asv puts the pins in its environment's name (``py3.13-jax0.12.1-...``), so
each stack's results are kept apart and the gate compares like with like.

Where it comes from:

* ``--stack FILE``: ``name==version`` lines (``python==3.13`` names the Python);
  packages it leaves out take the newest release the registry serves with them;
* by default, the newest CPython installed here that pyhf's classifiers name,
  with the newest releases (``pip install --dry-run`` with that Python resolves
  them, so the set is one pip would install together).

Where every package of the environment is pinned, nothing asks the registry.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import results as resultslib

#: Pinned in a stack and compared between stacks: pyhf's dependencies and backends.
KEY_PACKAGES = ("numpy", "scipy", "iminuit", "jax", "jaxlib", "torch", "tensorflow",
                "tensorflow-probability", "tf-keras")
#: Released together: a change of one is a change of the group (jax with jaxlib).
GROUPS = (("jax", "jaxlib"), ("tensorflow", "tensorflow-probability", "tf-keras"))
#: What a user of pyhf main installs today (main has the NumPy and JAX backends only;
#: torch and tensorflow would hold NumPy back: tensorflow 2.21 resolves numpy 2.4).
CURRENT_MATRIX = {
    "numpy": [""], "scipy": [""], "iminuit": [""], "jax": [""], "jaxlib": [""],
    "threadpoolctl": [""], "psutil": [""], "nvidia-ml-py": [""], "matplotlib": [""],
    "distributed": [""],
}


def base_name(requirement):
    """pip's name of an asv matrix key: 'jax[cuda12]' -> 'jax', 'tf_keras' -> 'tf-keras'."""
    return resultslib.requirement_name(requirement.split("[", 1)[0])


class StackError(ValueError):
    """A stack that cannot be read or resolved; the message names the file or package."""


@dataclass(frozen=True)
class Stack:
    python: str  # "3.13": asv's pythons entry
    pins: tuple = ()  # sorted ((name, version), ...) of KEY_PACKAGES in the environment
    source: str = field(default="", compare=False)  # where it came from, for the log

    @property
    def versions(self):
        return dict(self.pins)

    def describe(self):
        return ", ".join([f"Python {self.python}"] + [f"{n} {v}" for n, v in self.pins])

    def changes(self, newer):
        """[(name, old version, new version)] from this stack to ``newer`` (Python as 'python')."""
        found = []
        if self.python != newer.python:
            found.append(("python", self.python, newer.python))
        old, new = self.versions, newer.versions
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                found.append((name, old.get(name), new.get(name)))
        return found

    def to_json(self):
        return {"python": self.python, "pins": dict(self.pins)}

    @classmethod
    def from_json(cls, data, source=""):
        return cls(str(data["python"]), tuple(sorted(dict(data["pins"]).items())), source)

    def matrix(self, base):
        """asv's matrix ``req`` from ``base`` with this stack's pins in place."""
        req = dict(base)
        for name, version in self.pins:
            key = next((k for k in req if base_name(k) == name), name)
            req[key] = [version]
        return req


def read_stack_file(path):
    """(python or None, {name: version}) from ``name==version`` lines; '#' starts a comment."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise StackError(f"{path}: cannot read the stack file ({err})") from None
    python, pins = None, {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)", line)
        if not match:
            raise StackError(f"{path}:{number}: expected 'name==version', got {raw.strip()!r}")
        name, version = resultslib.requirement_name(match.group(1)), match.group(2)
        if name == "python":
            if not re.fullmatch(r"3\.\d+", version):
                raise StackError(f"{path}:{number}: python==3.N (a minor version), got {version!r}")
            python = version
        else:
            pins[name] = version
    return python, pins


# --------------------------------------------------------------------------- Pythons


def installed_pythons(environ=os.environ):
    """{"3.13": executable} of the CPythons installed here: pyenv's versions, then PATH's
    (a pyenv shim for a version that is not selected fails, so the versions come first)."""
    found = {}
    root = Path(environ.get("PYENV_ROOT") or Path("~/.pyenv").expanduser())
    for exe in sorted((root / "versions").glob("3.*/bin/python3.*")):
        match = re.fullmatch(r"python(3\.\d+)", exe.name)
        if match and exe.is_file():
            found.setdefault(match.group(1), str(exe))
    for minor in range(8, 20):
        version = f"3.{minor}"
        if version in found:
            continue
        exe = shutil.which(f"python{version}", path=environ.get("PATH"))
        if exe and "shims" not in Path(exe).parts:
            found[version] = exe
    return found


def supported_pythons(repo, ref="main"):
    """The Python versions pyhf's classifiers name at ``ref`` of the git repository ``repo``."""
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:pyproject.toml"],
                           capture_output=True, text=True)
    if shown.returncode != 0:
        return set()
    return set(re.findall(r"Programming Language :: Python :: (3\.\d+)\b", shown.stdout))


def newest_python(installed, supported=None):
    """The newest of ``installed`` (a dict as installed_pythons gives) that ``supported``
    names (all when None or empty); StackError when there is none."""
    key = lambda v: tuple(int(p) for p in v.split("."))
    usable = [v for v in installed if not supported or v in supported]
    if not usable:
        raise StackError(f"no installed CPython ({', '.join(sorted(installed, key=key)) or 'none'}) "
                         f"is one pyhf supports ({', '.join(sorted(supported or (), key=key))})")
    return max(usable, key=key)


def path_env(executable, environ=os.environ):
    """{"PATH": ...} with ``executable``'s folder first: asv finds ``python3.N`` on PATH."""
    folder = str(Path(executable).parent)
    return {"PATH": os.pathsep.join([folder, environ.get("PATH", "")])}


# --------------------------------------------------------------------------- resolving


def key_packages(req):
    """The KEY_PACKAGES among asv matrix requirements ``req`` (pip's names)."""
    return [base_name(k) for k in req if base_name(k) in KEY_PACKAGES]


def requirement_lines(req, pins):
    """pip requirement strings for asv's matrix ``req`` with ``pins`` applied."""
    lines = []
    for key, values in req.items():
        if key.startswith("pip+"):
            continue
        name = base_name(key)
        version = pins.get(name) or (values[0] if values and values[0] else "")
        lines.append(f"{key}=={version}" if version else key)
    return lines


def resolve(python_exe, requirements, runner=subprocess.run):
    """{name: version} pip would install for ``requirements`` with ``python_exe``
    (``pip install --dry-run``: the registry's newest releases that fit together)."""
    command = [str(python_exe), "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--quiet", "--only-binary=:all:", "--report", "-", *requirements]
    done = runner(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or "").strip().splitlines()[-3:])
        raise StackError(f"pip could not resolve {' '.join(requirements)} for Python "
                         f"{python_exe}: {tail}")
    try:
        report = json.loads(done.stdout)
        return {resultslib.requirement_name(item["metadata"]["name"]): item["metadata"]["version"]
                for item in report["install"]}
    except (ValueError, KeyError, TypeError) as err:
        raise StackError(f"pip's installation report could not be read: {err}") from None


def make_stack(req, python, pins=None, python_exe=None, source="", runner=subprocess.run):
    """The Stack of matrix ``req`` on ``python``: ``pins`` as given, the rest of the key
    packages resolved with ``python_exe`` (nothing is resolved when ``pins`` covers them)."""
    pins = {resultslib.requirement_name(k): v for k, v in (pins or {}).items()}
    keys = key_packages(req)
    given = {base_name(r): v[0] for r, v in req.items() if v and v[0]}
    fixed = {k: pins.get(k) or given.get(k) for k in keys}
    unknown = sorted(set(pins) - set(keys))
    if unknown:
        raise StackError(f"{source or 'the stack'} pins {', '.join(unknown)}, which this "
                         f"environment does not install (it has {', '.join(keys)})")
    if any(v is None for v in fixed.values()):
        if python_exe is None:
            raise StackError(f"no Python {python} here to resolve "
                             f"{', '.join(k for k, v in fixed.items() if v is None)}")
        resolved = resolve(python_exe, requirement_lines(req, pins), runner=runner)
        for name in fixed:
            if fixed[name] is None:
                if name not in resolved:
                    raise StackError(f"pip did not resolve {name} for Python {python}")
                fixed[name] = resolved[name]
    return Stack(python, tuple(sorted(fixed.items())), source)


def group_of(name):
    return next((g for g in GROUPS if name in g), (name,))


def changed_groups(old, new):
    """The packages that changed from Stack ``old`` to ``new``, released-together ones as one:
    [((names...), [(name, old, new), ...])]."""
    changes = old.changes(new)
    groups = {}
    for name, before, after in changes:
        groups.setdefault(group_of(name), []).append((name, before, after))
    return list(groups.items())


def describe_changes(changes):
    """'jax 0.9.2 -> 0.12.1, jaxlib 0.9.2 -> 0.12.1' ('none' for a package not installed)."""
    return ", ".join(f"{name} {before or 'none'} -> {after or 'none'}"
                     for name, before, after in changes)


def choose(req, stack_file=None, repo=None, ref="main", python=None, installed=None,
           runner=subprocess.run):
    """(Stack, Python executable) a job measures in, for asv matrix ``req``.

    The Python: the stack file's ``python==`` line, else ``python``, else the newest
    CPython installed here that pyhf's classifiers at ``ref`` of ``repo`` name. The
    packages: the file's pins, the rest resolved to their newest releases."""
    file_python, pins = read_stack_file(stack_file) if stack_file else (None, {})
    installed = installed_pythons() if installed is None else installed
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    installed.setdefault(running, sys.executable)
    chosen = file_python or python or newest_python(
        installed, supported_pythons(repo, ref) if repo else None)
    executable = installed.get(chosen)
    if executable is None:
        raise StackError(f"{stack_file or 'the stack'} asks for Python {chosen}, which is not "
                         f"installed here (installed: {', '.join(sorted(installed))})")
    source = str(stack_file) if stack_file else "the newest releases"
    return make_stack(req, chosen, pins, executable, source=source, runner=runner), executable
