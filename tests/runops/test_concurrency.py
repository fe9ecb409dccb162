"""Adaptive concurrency climbs while throughput rises, settles on the best level, halves on overload."""

from __future__ import annotations

from runops.concurrency import AdaptiveConcurrency, FixedConcurrency, Settled, SettledLevels


def drive(
    controller: AdaptiveConcurrency, rate_at: dict[int, float], answers: int = 3000, runs: int = 1
) -> list[int]:
    """Feed answers at the rate (answers/s) the simulated server manages for the current limit;
    returns the levels in the order they were used."""
    now, seen = 0.0, [controller.limit]
    for _ in range(answers):
        now += 1.0 / rate_at[controller.limit]
        controller.completed(now, runs=runs)
        if controller.limit != seen[-1]:
            seen.append(controller.limit)
    return seen


def test_single_sqlite_server_settles_on_its_best_low_level() -> None:
    # one SQLite server, reschedule measured in bench/RESULTS.md: best at 2, slower above
    c = AdaptiveConcurrency()
    assert drive(c, {1: 26, 2: 31, 4: 24, 8: 21}) == [2, 4, 1, 2]
    assert c.settled == 2 and c.peak == 4


def test_server_fastest_at_one_is_found_by_probing_down() -> None:
    # DESIGN.md: one SQLite server fastest at 1, more in flight slower
    c = AdaptiveConcurrency()
    assert drive(c, {1: 30, 2: 24, 4: 20, 8: 15})[-1] == 1
    assert c.settled == 1


def test_scaled_out_server_climbs_to_the_top() -> None:
    # two API workers: 15 → 27 → 50 → 57 runs/s at 1/2/4/8 (issue #9)
    c = AdaptiveConcurrency()
    assert drive(c, {1: 15, 2: 27, 4: 50, 8: 57}) == [2, 4, 8]
    assert c.settled == 8


def test_plateau_settles_near_the_best() -> None:
    # one API worker on PostgreSQL + Redis: 43 / 51 / 52 / 41 runs/s at 1 / 2 / 4 / 8
    rates = {1: 43, 2: 51, 4: 52, 8: 41}
    c = AdaptiveConcurrency()
    drive(c, rates)
    assert rates[c.settled] >= 0.9 * max(rates.values())
    assert c.settled != 8


def test_near_tie_settles_on_the_lower_level() -> None:
    # 4 measures 3 % above 2 (noise-sized): the same speed for half the load on the server
    c = AdaptiveConcurrency()
    assert drive(c, {1: 30, 2: 36, 4: 37, 8: 35}) == [2, 4, 8, 2]
    assert c.settled == 2
    # a clear gain is kept
    c = AdaptiveConcurrency()
    drive(c, {1: 30, 2: 36, 4: 40, 8: 35})
    assert c.settled == 4


def test_answers_from_the_previous_level_are_not_counted() -> None:
    c = AdaptiveConcurrency(initial=1)
    now = 0.0
    while c.limit == 1:  # one window of >= 1 s at level 1, then up to 2
        now += 0.1
        c.completed(now)
    assert c.limit == 2 and c._skip == 1 and c._window_start is None
    c.completed(now + 0.01)  # the request sent at level 1 answers: skipped
    assert c._skip == 0 and c._window_start is None
    c.completed(now + 0.02)  # the first answer at level 2 starts the clock
    assert c._window_start == now + 0.02


def test_overload_halves_and_freezes() -> None:
    c = AdaptiveConcurrency(initial=8)
    c.overloaded()
    assert c.limit == 4
    c.overloaded()
    assert c.limit == 2
    drive(c, {1: 10, 2: 10, 4: 100, 8: 100})
    assert c.limit == 2  # frozen after overload


def test_fixed() -> None:
    f = FixedConcurrency(3)
    f.overloaded()
    assert f.limit == 3 and f.settled == 3


def test_rate_counts_runs_not_requests() -> None:
    # bulk requests: each answer covers 10 runs
    c = AdaptiveConcurrency()
    drive(c, {1: 3.0, 2: 4.5, 4: 4.0, 8: 3.0}, answers=200, runs=10)
    assert c.settled == 2
    assert round(c._best[2], 6) == 45.0  # runs/s: 4.5 answers/s of 10 runs each


def test_warm_start_stays_where_the_last_job_settled_when_the_rate_holds() -> None:
    last = Settled(level=8, rate=57.0, at=0.0)
    c = AdaptiveConcurrency(warm=last)
    assert c.limit == 8 and c.start == 8
    assert drive(c, {1: 15, 2: 27, 4: 50, 8: 55}) == [8]  # 55 >= 0.8 × 57: no window elsewhere
    assert c.settled == 8 and c.rate is not None and abs(c.rate - 55) < 1


def test_warm_start_explores_from_there_when_the_server_got_slower() -> None:
    # the last job settled at 8 with 57 runs/s; now 8 gives 30 and 4 is best
    c = AdaptiveConcurrency(warm=Settled(level=8, rate=57.0, at=0.0))
    assert drive(c, {1: 15, 2: 27, 4: 45, 8: 30}) == [8, 4, 2, 4]
    assert c.settled == 4


def test_settled_levels_are_remembered_per_kind_of_job_and_expire() -> None:
    levels = SettledLevels(ttl_s=100)
    c = AdaptiveConcurrency()
    drive(c, {1: 15, 2: 27, 4: 50, 8: 57})
    levels.learn(("api", "cancel", "10+"), c, now=1000.0)
    assert levels.recall(("api", "cancel", "10+"), now=1050.0) == Settled(8, c.rate, 1000.0)
    assert levels.recall(("api", "cancel", "1"), now=1050.0) is None  # another kind of request
    assert levels.recall(("api", "cancel", "10+"), now=1101.0) is None  # expired


def test_a_job_too_short_to_measure_teaches_nothing_and_overload_forgets() -> None:
    levels = SettledLevels()
    levels.learn(("api", "x", "1"), AdaptiveConcurrency())  # no whole window measured
    assert levels.recall(("api", "x", "1")) is None
    measured = AdaptiveConcurrency()
    drive(measured, {1: 30, 2: 24, 4: 20, 8: 15})
    levels.learn(("api", "x", "1"), measured)
    assert levels.recall(("api", "x", "1")) is not None
    pushed_back = AdaptiveConcurrency(warm=levels.recall(("api", "x", "1")))
    pushed_back.overloaded()
    levels.learn(("api", "x", "1"), pushed_back)
    assert levels.recall(("api", "x", "1")) is None


def test_a_job_that_ends_while_measuring_reports_its_best_so_far_and_the_next_job_resumes() -> None:
    # 400-run jobs on two API workers ended inside their level-8 window: each taught nothing and
    # the next started cold at 2 again (bench/RESULTS.md, pg-redis-2 cancel)
    levels, key = SettledLevels(), ("api", "cancel", "10+")
    first = AdaptiveConcurrency()
    assert drive(first, {1: 30, 2: 36, 4: 45, 8: 44}, answers=200) == [2, 4, 8]
    assert first.exploring and first.limit == 8 and set(first.measured) == {2, 4}
    assert first.settled == 4 and first.rate == first.measured[4]
    levels.learn(key, first, now=0.0)
    resume = levels.recall(key, now=1.0)
    assert resume == Settled(8, first.measured[4], 0.0, tuple(sorted(first.measured.items())))
    assert resume is not None and resume.unfinished

    # the next job measures 8 and settles against what the first one measured
    near = AdaptiveConcurrency(warm=resume)
    assert near.start == 8 and drive(near, {1: 30, 2: 36, 4: 45, 8: 44}) == [8, 4]
    assert near.settled == 4 and not near.exploring  # 44 is within `tie` of 45: the lower level
    assert near.peak == 8
    faster = AdaptiveConcurrency(warm=resume)
    assert drive(faster, {1: 30, 2: 36, 4: 45, 8: 57}) == [8]
    assert faster.settled == 8

    # a finished climb is remembered as before: the third job stays at 8 from its first window
    levels.learn(key, faster, now=2.0)
    third = AdaptiveConcurrency(warm=levels.recall(key, now=3.0))
    assert drive(third, {1: 30, 2: 36, 4: 45, 8: 55}) == [8] and third.windows == 1


def test_a_resumed_job_too_short_to_measure_keeps_what_was_learnt() -> None:
    levels, key = SettledLevels(), ("api", "cancel", "10+")
    first = AdaptiveConcurrency()
    drive(first, {1: 30, 2: 36, 4: 45, 8: 44}, answers=200)
    levels.learn(key, first, now=0.0)
    learnt = levels.recall(key, now=0.0)
    short = AdaptiveConcurrency(warm=learnt)
    drive(short, {8: 44}, answers=5)  # no whole window at 8
    assert short.windows == 0 and short.settled == 4  # its best so far is the first job's
    levels.learn(key, short, now=10.0)
    assert levels.recall(key, now=10.0) == learnt


def test_a_resumed_probe_down_that_settles_higher_reports_that_level_as_its_peak() -> None:
    # the previous job measured 2 and 4 and was probing 1 when it ended
    resume = Settled(1, 36.0, 0.0, ((2, 36.0), (4, 30.0)))
    c = AdaptiveConcurrency(warm=resume)
    assert drive(c, {1: 30, 2: 36, 4: 30, 8: 25}) == [1, 2]
    assert c.settled == 2 and c.peak == 2 and c.start == 1


def test_one_slow_window_at_the_remembered_level_is_measured_again_before_exploring() -> None:
    last = Settled(level=2, rate=50.0, at=0.0)
    # the first window is slow (a busy moment), the second is back: stays at 2, explores nothing
    c = AdaptiveConcurrency(warm=last)
    now, rates = 0.0, iter([30.0] * 65 + [50.0] * 2000)
    while c.exploring:
        now += 1.0 / next(rates)
        c.completed(now)
    assert c.settled == 2 and c.windows == 2 and set(c.measured) == {2}
    # two slow windows in a row: the server changed, the job explores from there
    c = AdaptiveConcurrency(warm=last)
    assert drive(c, {1: 20, 2: 30, 4: 45, 8: 40}) == [2, 4, 8, 4]
    assert c.settled == 4 and c.windows == 4
    # a job that ends while measuring the remembered level again leaves the memory as it was
    levels = SettledLevels()
    levels._by_key[("api", "cancel", "10+")] = last
    short = AdaptiveConcurrency(warm=last)
    drive(short, {2: 30}, answers=70)  # one slow window, then part of a second
    assert short.windows == 1 and short.exploring and short.limit == 2
    levels.learn(("api", "cancel", "10+"), short, now=1.0)
    assert levels.recall(("api", "cancel", "10+"), now=1.0) == last


def lucky_climb(
    climbing: dict[int, float], steady: dict[int, float], answers: int = 600
) -> AdaptiveConcurrency:
    """A cold job whose windows see `climbing` while it explores and `steady` once it settled."""
    job, now = AdaptiveConcurrency(), 0.0
    for _ in range(answers):
        now += 1.0 / (climbing if job.exploring else steady)[job.limit]
        job.completed(now)
    return job


def test_the_next_job_compares_with_the_rate_sustained_after_settling_not_the_winning_window() -> None:
    # one PostgreSQL worker, reschedule (bench/RESULTS.md): the levels are within a window's
    # noise of each other; the window that won the climb was a lucky one, the job then
    # sustained less there, and the next job measured against the lucky window left the level
    levels, key = SettledLevels(), ("api", "reschedule", "1")
    climbing = {1: 15.0, 2: 18.0, 4: 30.0, 8: 17.0}
    steady = {1: 15.0, 2: 18.0, 4: 20.0, 8: 17.0}
    first = lucky_climb(climbing, steady)
    assert first.settled == 4 and round(first.measured[4]) == 30
    assert first.rate is not None and abs(first.rate - 20) < 0.5
    levels.learn(key, first, now=0.0)
    learnt = levels.recall(key, now=1.0)
    assert learnt is not None and learnt.level == 4 and abs(learnt.rate - 20) < 0.5

    # the next job runs 17 at 4, within 0.8 × 20 of what was sustained: it stays at 4
    following = AdaptiveConcurrency(warm=learnt)
    assert drive(following, {1: 15, 2: 18, 4: 17, 8: 17}) == [4] and following.windows == 1
    # and it teaches what it sustained in turn
    levels.learn(key, following, now=2.0)
    again = levels.recall(key, now=2.0)
    assert again is not None and again.level == 4 and abs(again.rate - 17) < 0.5


def test_answers_in_flight_when_settling_lower_are_not_counted_as_sustained() -> None:
    c = AdaptiveConcurrency()
    drive(c, {1: 30, 2: 36, 4: 37, 8: 35})  # settles at 2 after measuring 8
    assert c.settled == 2 and not c.exploring and c.sustained is not None
    settling = AdaptiveConcurrency()
    now = 0.0
    while settling.exploring:
        now += 1.0 / {1: 30, 2: 36, 4: 37, 8: 35}[settling.limit]
        settling.completed(now)
    assert settling.limit == 2 and settling._skip == 8  # the eight requests sent at level 8
    for _ in range(8):
        settling.completed(now)
    assert settling._skip == 0 and settling._sustain_start is None


def test_a_level_that_won_its_climb_on_a_lucky_window_is_checked_by_the_next_job() -> None:
    # one PostgreSQL worker, reschedule (bench/RESULTS.md, 0.88): a lucky climb 2 -> 4 -> 8 settled
    # at 8, every later job stayed there, and 4 was the fastest level over whole jobs
    levels, key = SettledLevels(), ("api", "reschedule", "1")
    climbing = {1: 15.0, 2: 18.0, 4: 26.0, 8: 28.0}
    steady = {1: 15.0, 2: 18.0, 4: 22.0, 8: 19.0}
    first = lucky_climb(climbing, steady)
    assert first.settled == 8 and first.rate is not None and abs(first.rate - 19) < 0.5
    assert first.rival() == 4  # its window at 4 (26) beat what 8 sustained (19) by more than noise
    levels.learn(key, first, now=0.0)
    learnt = levels.recall(key, now=1.0)
    assert learnt is not None and learnt.unfinished and learnt.level == 4
    measured = dict(learnt.measured)
    assert set(measured) == {2, 8} and round(measured[2]) == 18 and measured[8] == learnt.rate
    assert abs(learnt.rate - 19) < 0.5

    # the next job measures 4 again, settles there and, as 4 holds up, is remembered plainly
    second = AdaptiveConcurrency(warm=learnt)
    assert drive(second, steady) == [4] and second.settled == 4 and second.rival() is None
    levels.learn(key, second, now=2.0)
    kept = levels.recall(key, now=2.0)
    assert kept is not None and not kept.unfinished and kept.level == 4 and abs(kept.rate - 22) < 0.5
    third = AdaptiveConcurrency(warm=kept)
    assert drive(third, steady) == [4] and third.windows == 1


def test_a_settled_level_that_holds_up_is_kept_however_its_rivals_measured_within_tie() -> None:
    levels, key = SettledLevels(), ("api", "cancel", "10+")
    c = AdaptiveConcurrency()
    drive(c, {1: 30, 2: 36, 4: 45, 8: 44})  # settles at 4; 8 measured within `tie` of it
    assert c.settled == 4 and c.rival() is None
    levels.learn(key, c, now=0.0)
    assert levels.recall(key, now=0.0) == Settled(4, c.rate, 0.0)


def test_a_settled_level_within_a_windows_noise_of_its_rivals_windows_is_kept() -> None:
    # one PostgreSQL worker, cancel (bench/RESULTS.md, 0.81): every level runs alike, the best of
    # the other levels' single windows beat what the settled level sustained by 5-20 % on noise,
    # and with a 5 % margin five of six jobs started at a new level
    levels, key = SettledLevels(), ("api", "cancel", "10+")
    first = lucky_climb({1: 40.0, 2: 44.0, 4: 46.0, 8: 41.0}, {1: 40.0, 2: 38.0, 4: 40.0, 8: 40.0})
    assert first.settled == 2 and first.rate is not None and abs(first.rate - 38) < 0.5
    assert first.rival() is None  # 4's window (46) is within 1/0.8 of what 2 sustained (38)
    levels.learn(key, first, now=0.0)
    learnt = levels.recall(key, now=0.0)
    assert learnt is not None and not learnt.unfinished and learnt.level == 2
