"""Partsbin benchmarks: ``python -m bench [names...]`` (or ``make bench``) prints tables.

Each benchmark is a module of this package with a ``run(args) -> None`` that prints its tables;
:data:`bench.__main__.BENCHMARKS` lists them. Benchmarks are not tests: they measure, they do not
assert, and each is bounded in time (``--quick`` skips the slowest cases).
"""
