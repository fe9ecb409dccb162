"""Benchmarks of runops against the baseline recipes; `make bench` runs them all (not tests)."""
