"""Where `python -m bench` writes: RESULTS.md for a whole run, its own file for a subset."""

from __future__ import annotations

from bench.__main__ import RESULTS, destination


def test_a_whole_run_writes_results_md() -> None:
    assert destination([], []) == (RESULTS, "make bench")


def test_a_subset_leaves_results_md_alone_and_names_its_command() -> None:
    path, command = destination(["concurrency"], ["sqlite", "pg-redis-2"])
    assert path == RESULTS.with_name("RESULTS-concurrency-sqlite-pg-redis-2.md")
    assert command == "python -m bench concurrency --setups sqlite pg-redis-2"
    assert destination(["concurrency"], [])[0] == RESULTS.with_name("RESULTS-concurrency.md")
