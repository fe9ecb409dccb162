"""Adaptive concurrency climbs while throughput rises, settles where it falls, halves on overload."""

from __future__ import annotations

from runops.concurrency import AdaptiveConcurrency, FixedConcurrency


def drive(controller: AdaptiveConcurrency, rate_at: dict[int, float], windows: int = 12) -> list[int]:
    """Feed completions at the rate the simulated server manages for the current limit."""
    now, seen = 0.0, []
    for _ in range(windows):
        limit = controller.limit
        for _ in range(controller._window()):
            now += 1.0 / rate_at[limit]
            controller.completed(now)
        seen.append(controller.limit)
    return seen


def test_single_sqlite_server_stays_at_one() -> None:
    # one SQLite server: more in flight is slower (DESIGN.md)
    c = AdaptiveConcurrency()
    c._window_start = 0.0
    seen = drive(c, {1: 30, 2: 24, 4: 20, 8: 15})
    assert seen[-1] == 1 and c.settled == 1


def test_scaled_out_server_climbs() -> None:
    # two API workers: 15 → 27 → 50 → 57 runs/s at 1/2/4/8 (DESIGN.md)
    c = AdaptiveConcurrency()
    c._window_start = 0.0
    rates = {1: 15, 2: 27, 4: 50, 8: 57}
    seen = drive(c, rates)
    assert rates[seen[-1]] >= 0.9 * max(rates.values())
    assert c.peak >= 4


def test_plateau_settles_near_the_best() -> None:
    # one API worker on PostgreSQL + Redis: 43 / 51 / 52 / 41 runs/s at 1 / 2 / 4 / 8
    rates = {1: 43, 2: 51, 4: 52, 8: 41}
    c = AdaptiveConcurrency()
    c._window_start = 0.0
    seen = drive(c, rates)
    assert rates[seen[-1]] >= 0.9 * max(rates.values())
    assert seen[-1] != 8


def test_overload_halves_and_freezes() -> None:
    c = AdaptiveConcurrency(initial=8)
    c.overloaded()
    assert c.limit == 4
    c.overloaded()
    assert c.limit == 2
    c._window_start = 0.0
    drive(c, {1: 10, 2: 10, 4: 100, 8: 100}, windows=4)
    assert c.limit == 2  # frozen after overload


def test_fixed() -> None:
    f = FixedConcurrency(3)
    f.overloaded()
    assert f.limit == 3 and f.settled == 3


def test_rate_counts_runs_not_requests() -> None:
    # bulk requests: each completion answers for 10 runs; 2 in flight do 1.5x the runs/s of 1
    c = AdaptiveConcurrency()
    c._window_start = 0.0
    now, requests_per_s = 0.0, {1: 3.0, 2: 4.5, 4: 4.0, 8: 3.0}
    for _ in range(8):
        limit = c.limit
        for _ in range(c._window()):
            now += 1.0 / requests_per_s[limit]
            c.completed(now, runs=10)
    assert c.settled == 2
    assert round(c._best[1], 6) == 30.0  # runs/s: 3 requests/s of 10 runs each
