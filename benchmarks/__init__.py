"""asv benchmarks of pyhf.

Benchmark modules are named ``bench_<workload>.py``; the machinery they share
(backends, pyhf version differences, pallets, monitoring) lives in
``benchmarks/support`` so that it travels with the benchmark directory into
every per-commit environment asv builds.
"""
