"""Host-side tooling of pyhf-benchmarks: what runs outside asv's per-commit environments.

The command-line front ends in ``scripts/`` are thin wrappers over these modules.
"""
