"""Benchmarks run by `make bench`: every module in this package with a `main()`, in name order.

Each prints its own table; figures quoted in the README come from these runs, not from timed unit tests.
"""
