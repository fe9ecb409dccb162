"""The concurrency limit: starts at 4, halves once per burst of 429/503 (never below 1), climbs by
one while throughput does not fall, and a fixed level is exactly that."""

from __future__ import annotations

import pytest

from runops.engine.concurrency import ConcurrencyLimit, fixed_concurrency
from runops.errors import BadInput


def drive(
    limit: ConcurrencyLimit, answers_per_s: dict[int, float], answers: int, runs: dict[int, int] | None = None
) -> list[int]:
    """Answers at the rate a simulated server manages for the current limit (each with `runs` at
    that limit, else one), on a made-up clock; returns the levels in the order they were used."""
    now, seen = 0.0, [limit.limit]
    for _ in range(answers):
        now += 1.0 / answers_per_s[limit.limit]
        limit.completed(runs=(runs or {}).get(limit.limit, 1), now=now)
        if limit.limit != seen[-1]:
            seen.append(limit.limit)
    return seen


STEEP = {n: 10.0 * n for n in range(1, 9)}  # every request more in flight adds as much


def test_starts_at_4_within_the_maximum() -> None:
    assert ConcurrencyLimit().limit == ConcurrencyLimit().start == 4
    assert ConcurrencyLimit(maximum=2).limit == 2
    with pytest.raises(ValueError, match="at least 1"):
        ConcurrencyLimit(start=0)


def test_a_burst_of_429s_halves_once_and_a_push_back_after_it_halves_again() -> None:
    limit = ConcurrencyLimit()
    burst = limit.epoch  # four requests sent together, all pushed back
    for _ in range(4):
        limit.overloaded(burst)
    assert limit.limit == 2
    limit.overloaded(limit.epoch)  # a request sent at 2 is pushed back too
    assert limit.limit == 1


def test_never_below_one() -> None:
    limit = ConcurrencyLimit(start=1)
    for _ in range(3):
        limit.overloaded(limit.epoch)
    assert limit.limit == 1


def test_climbs_by_one_a_window_while_throughput_rises_up_to_the_maximum() -> None:
    limit = ConcurrencyLimit()
    assert drive(limit, STEEP, answers=2000) == [4, 5, 6, 7, 8]
    assert (limit.limit, limit.peak, limit.climbing) == (8, 8, False)


def test_the_first_slower_window_steps_back_one_and_ends_the_climb() -> None:
    # one SQLite server: a fifth request in flight only makes the others wait
    limit = ConcurrencyLimit()
    assert drive(limit, {4: 40.0, 5: 36.0}, answers=2000) == [4, 5, 4]
    assert (limit.limit, limit.peak, limit.climbing) == (4, 5, False)
    # a level as fast as the one below is kept and the climb goes on
    limit = ConcurrencyLimit()
    assert drive(limit, {4: 40.0, 5: 40.0, 6: 39.0}, answers=2000) == [4, 5, 6, 5]


def test_a_window_is_two_seconds_and_one_answer_per_request_in_flight() -> None:
    limit = ConcurrencyLimit()
    limit.completed(now=0.0)  # the first answer opens the window
    for second in (1.0, 1.9):
        limit.completed(now=second)
    assert limit.limit == 4  # under 2 s
    limit.completed(now=2.5)
    assert limit.limit == 4  # 2 s, but 3 answers for 4 requests in flight
    limit.completed(now=2.6)
    assert limit.limit == 5


def test_a_window_counts_runs_not_requests() -> None:
    # as many answers a second at 5 as at 4, but each of them changed half as many runs
    limit = ConcurrencyLimit()
    assert drive(limit, {4: 10.0, 5: 10.0}, answers=200, runs={4: 20, 5: 10}) == [4, 5, 4]
    assert not limit.climbing


def test_after_a_halving_it_no_longer_climbs() -> None:
    limit = ConcurrencyLimit()
    limit.overloaded(limit.epoch)
    assert drive(limit, STEEP, answers=2000) == [2]


def test_fixed_is_exactly_n_it_neither_climbs_nor_halves() -> None:
    limit = ConcurrencyLimit.fixed_at(3)
    limit.overloaded(limit.epoch)
    assert drive(limit, STEEP, answers=2000) == [3]
    assert (limit.start, limit.peak) == (3, 3)
    assert ConcurrencyLimit.fixed_at(12).limit == 12  # the caller's number, above the climb's maximum


def test_each_job_has_its_own_limit() -> None:
    pushed_back = ConcurrencyLimit()
    pushed_back.overloaded(pushed_back.epoch)
    climbed = ConcurrencyLimit()
    drive(climbed, STEEP, answers=2000)
    assert (pushed_back.limit, climbed.limit, ConcurrencyLimit().limit) == (2, 8, 4)


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, None), ("", None), ("  ", None), ("1", 1), (" 6 ", 6), ("16", 16)]
)
def test_runops_concurrency_fixes_the_level(raw: str | None, expected: int | None) -> None:
    assert fixed_concurrency({} if raw is None else {"RUNOPS_CONCURRENCY": raw}) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "four"])
def test_runops_concurrency_must_be_a_positive_whole_number(raw: str) -> None:
    with pytest.raises(BadInput, match="RUNOPS_CONCURRENCY must be a whole number of at least 1"):
        fixed_concurrency({"RUNOPS_CONCURRENCY": raw})
