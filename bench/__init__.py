"""Benchmarks run by `make bench`: every module in this package with a `main()`, in name order.

Each prints its own table and writes it, with the date and the machine, to docs/figures/<name>.md (`_figures`),
which the docs pages include: the figures the docs show come from these runs, not from timed unit tests.
"""
