"""Benchmarks: API calls, wall time and memory per run, against the least the API allows.

Run with ``make bench`` (full scale) or ``python -m benchmarks.run --scale tiny``. Not tests:
nothing here asserts a speed; ``fbads_assets_tests/test_bench_smoke.py`` only checks that every
scenario runs and reports figures of the right shape.
"""
