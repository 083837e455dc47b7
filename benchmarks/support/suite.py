"""The quick suite, declared by the benchmark classes themselves (scipy's ``is_xslow`` model).

A class is in the quick suite with a ``quick_params`` attribute, a method with
the ``@quick(...)`` decorator (which wins over the class's): both give, per
parameter name, the values the quick suite takes (a name left out: all its
values). Classes and methods without either are full-suite only.

``quick_regexes(classes)`` turns the declarations into asv ``--bench``
regexes over ``name(param, ...)``, exact per combination, for the host
(``scripts/main-job``, ``scripts/nightly --quick-suite``): asv then starts no
process for what is left out (stored as n/a in that run).
"""

import itertools
import os
import re

from . import settings

QUICK_ATTRIBUTE = "_quick_params"
#: Set by the host for a run of the quick suite, so that a setup_cache measuring for a
#: whole class measures only the quick suite's combinations.
QUICK_RUN_ENV = settings.QUICK_SUITE
BENCHMARK_PREFIXES = ("time_", "timeraw_", "track_", "peakmem_", "mem_")


def quick(**values):
    """Put this benchmark method in the quick suite, with these values per parameter name."""

    def decorate(function):
        setattr(function, QUICK_ATTRIBUTE, dict(values))
        return function

    return decorate


def benchmark_methods(cls):
    return sorted(name for name in dir(cls) if name.startswith(BENCHMARK_PREFIXES))


def quick_declaration(cls, method):
    """{param name: values} of ``cls.method`` in the quick suite, or None (full suite only)."""
    declared = getattr(getattr(cls, method), QUICK_ATTRIBUTE, None)
    if declared is None:
        declared = getattr(cls, "quick_params", None)
    if declared is None:
        return None
    names = list(getattr(cls, "param_names", []))
    unknown = set(declared) - set(names)
    if unknown:
        raise ValueError(f"{cls.__name__}.{method}: quick values for unknown parameters {sorted(unknown)}")
    return declared


def quick_combinations(cls, method):
    """The parameter tuples of ``cls.method`` in the quick suite (``[()]`` unparametrized)."""
    declared = quick_declaration(cls, method)
    if declared is None:
        return []
    names, params = list(getattr(cls, "param_names", [])), list(getattr(cls, "params", []))
    if params and not isinstance(params[0], (list, tuple)):
        params = [params]
    axes = []
    for name, values in zip(names, params):
        # Values this host's parameters lack (a pallet without the mirror) are left out.
        axes.append([v for v in declared.get(name, values) if v in values])
    return list(itertools.product(*axes))


def in_quick_run(environ=os.environ):
    return settings.in_quick_run(environ)


def quick_limits(cls, method, environ=os.environ):
    """{param name: values} a setup_cache of ``cls`` measures in this run: in a quick-suite
    run ``method``'s quick declaration, else {} (everything)."""
    if not in_quick_run(environ):
        return {}
    return dict(quick_declaration(cls, method) or {})


def benchmark_name(module, cls, method):
    return f"{module.split('.')[-1]}.{cls.__name__}.{method}"


def quick_regexes(classes):
    """One asv ``--bench`` regex per quick benchmark method of ``classes`` [(module name, class)]."""
    regexes = []
    for module, cls in classes:
        for method in benchmark_methods(cls):
            combos = quick_combinations(cls, method)
            if not combos:
                continue
            name = re.escape(benchmark_name(module, cls, method))
            if combos == [()]:
                regexes.append(f"^{name}$")
                continue
            shown = "|".join(re.escape(", ".join(map(repr, combo))) for combo in combos)
            regexes.append(rf"^{name}\((?:{shown})\)$")
    return regexes


def suite_classes(package_name="benchmarks"):
    """[(module name, class)] of every benchmark class in the suite's ``bench_*`` modules."""
    import importlib
    import inspect
    import pkgutil

    package = importlib.import_module(package_name)
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"{package_name}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and not cls.__name__.startswith("_"):
                found.append((module.__name__, cls))
    return found
