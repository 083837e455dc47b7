"""Helpers shared by the benchmark modules. Nothing here is a benchmark.

Modules here may only import the standard library, pyhf and its
dependencies, and the packages listed in the ``matrix`` of asv.conf.json,
because asv imports them inside each per-commit environment.
"""
