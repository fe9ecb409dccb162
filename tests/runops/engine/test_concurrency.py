"""Adaptive concurrency climbs while throughput rises, settles on the best level, halves on overload,
and steers later jobs by everything earlier ones measured."""

from __future__ import annotations

import random

from runops.engine.concurrency import AdaptiveConcurrency, Evidence, FixedConcurrency, LevelMemory, Sample


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
    # one SQLite server, reschedule measured in bench/RESULTS.md: best at 2, slower above; from
    # the cold start at 4: 8 is slower, so down below the lowest tried while that is the best
    c = AdaptiveConcurrency()
    assert c.start == 4
    assert drive(c, {1: 26, 2: 31, 4: 24, 8: 21}) == [4, 8, 2, 1, 2]
    assert c.settled == 2 and c.peak == 8


def test_server_fastest_at_one_is_found_by_probing_down() -> None:
    # DESIGN.md: one SQLite server fastest at 1, more in flight slower
    c = AdaptiveConcurrency()
    assert drive(c, {1: 30, 2: 24, 4: 20, 8: 15})[-1] == 1
    assert c.settled == 1


def test_scaled_out_server_climbs_to_the_top() -> None:
    # two API workers: 15 → 27 → 50 → 57 runs/s at 1/2/4/8 (issue #9)
    c = AdaptiveConcurrency()
    assert drive(c, {1: 15, 2: 27, 4: 50, 8: 57}) == [4, 8]
    assert c.settled == 8
    # from 2, as before: one more window on the way
    c = AdaptiveConcurrency(initial=2)
    assert drive(c, {1: 15, 2: 27, 4: 50, 8: 57}) == [2, 4, 8]


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
    assert drive(c, {1: 30, 2: 36, 4: 37, 8: 35}) == [4, 8, 2]
    assert c.settled == 2
    # a clear gain is kept
    c = AdaptiveConcurrency()
    drive(c, {1: 30, 2: 36, 4: 40, 8: 35})
    assert c.settled == 4


def test_a_job_tries_a_level_only_when_its_window_can_end_before_the_job_does() -> None:
    # a 400-run bulk cancel on two API workers (bench/RESULTS.md): 20 answers of 20 runs; the
    # window at 4 takes 9 of them, one at 8 would need 13 more (4 still in flight, 1 to start
    # the clock, 8 to measure) — more than are left
    rates = {1: 53.0, 2: 66.0, 4: 73.0, 8: 72.0}  # runs/s
    answers_per_s = {level: rate / 20 for level, rate in rates.items()}
    short = AdaptiveConcurrency(job_runs=400)
    assert drive(short, answers_per_s, answers=20, runs=20) == [4]
    assert short.windows == 1 and short.settled == 4 and not short.exploring
    # not knowing the job's size, it starts a window at 8 that the job's end cuts short
    blind = AdaptiveConcurrency()
    assert drive(blind, answers_per_s, answers=20, runs=20) == [4, 8]
    assert blind.windows == 1 and blind.exploring
    # a 2,000-run job has room for it
    assert drive(AdaptiveConcurrency(job_runs=2000), answers_per_s, answers=100, runs=20)[:2] == [4, 8]


def test_a_warm_job_probes_only_when_the_probe_takes_a_small_share_of_it() -> None:
    # in-place reschedule on two API workers, one run an answer: a window is ~90 runs at 8
    rates = {1: 12.9, 2: 24.3, 4: 37.5, 8: 44.5}
    known = Evidence.of_jobs(compared(rates, (4, 8)))  # 4 compared once: may still be faster
    long = AdaptiveConcurrency(known=known, job_runs=400)
    assert long.start == 8 and long.probe == 4
    assert drive(long, rates, answers=400) == [8, 4, 8]  # ~100 runs at 4: a quarter of the job
    short = AdaptiveConcurrency(known=known, job_runs=200)
    assert drive(short, rates, answers=200) == [8]  # the probe would be half of what is left
    assert short.windows == 1 and short.settled == 8 and not short.exploring
    assert Evidence.of(short.samples).rates == {}  # one level measured: nothing compared


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
    # the other requests in flight at 8 are pushed back in the same moment: one halving for all
    for _ in range(7):
        c.overloaded()
    assert c.limit == 4
    for _ in range(8):  # their answers come in (after runops' retries)
        c.completed()
    c.overloaded()  # pushed back at 4 as well
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
    assert round(c.measured[2], 6) == 45.0  # runs/s: 4.5 answers/s of 10 runs each


KEY = ("api", "cancel", "10+")


def compared(
    rates: dict[int, float], levels: tuple[int, ...], times: int = 1, speed: float = 1.0
) -> list[list[Sample]]:
    """`times` jobs that each measured `levels` for a 2 s window, at `rates` × `speed` (the
    server's moment: these servers run 10–30 % faster or slower for a job or longer)."""
    return [[Sample(level, rates[level] * speed * 2.0, 2.0) for level in levels] for _ in range(times)]


def test_levels_are_compared_within_jobs_not_across_the_servers_moments() -> None:
    rates = {2: 36.0, 4: 45.0}
    fast, slow = compared(rates, (2,), 5, speed=1.3), compared(rates, (4,), 5, speed=0.7)
    # jobs that measured one level say nothing about how levels compare
    assert Evidence.of_jobs([*fast, *slow]).rates == {}
    both = Evidence.of_jobs(
        [*fast, *slow, *compared(rates, (2, 4), speed=0.8), *compared(rates, (2, 4), speed=1.2)]
    )
    assert both.compared == {2: 2, 4: 2}
    assert abs(both.rates[4] / both.rates[2] - 45 / 36) < 1e-6  # the moments cancel out
    # levels linked only through a third one, in jobs at different moments
    chain = Evidence.of_jobs(
        [*compared({1: 20.0, 2: 30.0}, (1, 2), speed=0.6), *compared({2: 30.0, 4: 45.0}, (2, 4), speed=1.4)]
    )
    assert abs(chain.rates[4] / chain.rates[1] - 45 / 20) < 1e-6


def test_a_warm_job_with_no_neighbour_worth_a_window_runs_at_the_best_known_level_throughout() -> None:
    # 4 compared with 8 in many jobs, clearly slower: nothing to measure again
    c = AdaptiveConcurrency(known=Evidence.of_jobs(compared({4: 50.0, 8: 57.0}, (4, 8), 50)))
    assert c.warm and c.start == 8 and c.probe is None and not c.exploring
    assert drive(c, {1: 15, 2: 27, 4: 50, 8: 55}) == [8] and c.windows == 0
    assert c.settled == 8 and c.sustained is not None and abs(c.sustained - 55) < 1
    assert [s.level for s in c.samples] == [8]


def test_a_warm_job_measures_a_neighbour_that_may_be_faster_once_then_settles_on_all_evidence() -> None:
    # 4 compared once, 34 against 36 at 2: within a window's noise, so worth one more window
    rates = {1: 30.0, 2: 36.0, 4: 34.0}
    learnt = Evidence.of_jobs([*compared(rates, (1, 2), 100), *compared(rates, (2, 4))])
    c = AdaptiveConcurrency(known=learnt)
    assert c.start == 2 and c.probe == 4 and c.exploring
    assert drive(c, {1: 30, 2: 36, 4: 45, 8: 50}) == [2, 4]  # 34/36 and 45/36: 4 is faster
    assert c.settled == 4 and c.windows == 2 and not c.exploring
    back = AdaptiveConcurrency(known=learnt)
    assert drive(back, {1: 30, 2: 36, 4: 31, 8: 30}) == [2, 4, 2]  # 4 is slower again: back to 2
    assert back.settled == 2 and back.peak == 4


def test_a_neighbour_measured_slower_often_enough_is_not_measured_again() -> None:
    # compared once: 31 × (1 + 0.2) >= 36, may be faster; in nine jobs: 31 × (1 + 0.2 / 3) < 36
    rates = {1: 25.0, 2: 36.0, 4: 31.0}
    often = compared(rates, (1, 2), 100)  # 1: clearly slower
    assert AdaptiveConcurrency(known=Evidence.of_jobs([*often, *compared(rates, (2, 4))])).probe == 4
    assert AdaptiveConcurrency(known=Evidence.of_jobs([*often, *compared(rates, (2, 4), 9)])).probe is None
    # of two that may be faster, the less compared
    rates = {1: 34.0, 2: 36.0, 4: 35.0}
    both = Evidence.of_jobs([*compared(rates, (1, 2)), *compared(rates, (2, 4), 10)])
    assert AdaptiveConcurrency(known=both).probe == 1

    # unmeasured: the level above (a climb goes on); the one below only under the lowest measured
    def probe(rates: dict[int, float]) -> int | None:
        return AdaptiveConcurrency(known=Evidence.of_jobs(compared(rates, tuple(rates), 100))).probe

    assert probe({2: 30.0, 4: 36.0}) == 8
    assert probe({2: 36.0, 4: 20.0}) == 1
    assert probe({2: 36.0, 4: 20.0, 8: 10.0}) == 1
    assert probe({4: 36.0, 8: 20.0}) == 2
    assert probe({2: 20.0, 4: 36.0, 8: 20.0}) is None


def test_a_comparison_counts_once_a_job_however_long_it_ran() -> None:
    # one PostgreSQL worker, cancel (bench/RESULTS-sweep.md on 1388329, 0.86): the first job's
    # long stretch at 2 counted as dozens of windows, so once a lucky window put the jobs at 1 they
    # never measured 2 again — the server's speed moves in phases longer than a job
    one_job = [[Sample(1, 72.0, 2.0), Sample(2, 33.0 * 100, 100.0)]]  # 1: 36 in a window; 2: 33 for 100 s
    c = AdaptiveConcurrency(known=Evidence.of_jobs(one_job))
    assert c.start == 1 and c.probe == 2  # 33 × (1 + 0.2) may beat 36
    # the same in nine jobs: 33 × (1 + 0.2 / 3) < 36
    assert AdaptiveConcurrency(known=Evidence.of_jobs(one_job * 9)).probe is None


def jobs(
    memory: LevelMemory,
    rates: dict[int, float],
    count: int,
    speeds: list[float] | None = None,
    initial: int = AdaptiveConcurrency.initial,
) -> list[int]:
    """Run `count` jobs one after another, each learning from the ones before, each in a moment
    of the server that runs at `speeds[n]` × `rates`; their start levels."""
    starts = []
    for n in range(count):
        job = AdaptiveConcurrency(known=memory.recall(KEY, now=float(n)), initial=initial)
        starts.append(job.start)
        speed = speeds[n] if speeds else 1.0
        drive(job, {level: rate * speed for level, rate in rates.items()}, answers=600)
        memory.learn(KEY, job, now=float(n))
    return starts


def test_a_slow_moment_of_the_server_does_not_make_the_levels_it_measured_look_slow() -> None:
    # one PostgreSQL worker, reschedule (make bench on 06a6086, 0.86): a whole round of jobs ran
    # ~20 % slow; the job in it measured 8 and 4 slow, and summed with the earlier jobs' rates
    # that made 2 — measured only in a quick moment — look best, so the job ran at 2
    memory = LevelMemory()
    rates = {1: 36.0, 2: 39.0, 4: 46.0, 8: 41.0}
    assert jobs(memory, rates, 4, speeds=[1.0, 0.7, 0.7, 1.0], initial=2) == [2, 4, 4, 4]


def test_a_climb_won_on_a_lucky_window_is_outvoted_by_what_the_level_then_sustained() -> None:
    # one PostgreSQL worker, reschedule (bench/RESULTS-sweep.md on 260ccbd, 0.84): a lucky climb 2 -> 4 -> 8
    # settled at 8 and every later job stayed there, while 4 was the fastest over whole jobs
    memory = LevelMemory()
    steady = {1: 15.0, 2: 18.0, 4: 22.0, 8: 19.0}
    first = lucky_climb({1: 15.0, 2: 18.0, 4: 26.0, 8: 28.0}, steady)
    assert first.settled == 8 and first.sustained is not None and abs(first.sustained - 19) < 0.5
    memory.learn(KEY, first, now=0.0)
    # 8's one lucky window is summed with the 19 it sustained; 4's window (26) now leads
    assert jobs(memory, steady, 4) == [4, 4, 4, 4]


def test_a_level_one_noisy_window_ruled_out_is_measured_again_and_the_climb_goes_on() -> None:
    # two API workers (make bench on a937052, 0.82-0.86): 4 measured no faster than 2 once, the jobs
    # settled at 2, and every later job stayed there while 8 was the fastest
    memory = LevelMemory()
    steady = {1: 15.0, 2: 27.0, 4: 50.0, 8: 57.0}
    first = lucky_climb({1: 15.0, 2: 27.0, 4: 26.0, 8: 57.0}, steady)
    assert first.settled == 2 and set(first.measured) == {1, 2, 4}
    memory.learn(KEY, first, now=0.0)
    assert jobs(memory, steady, 4) == [2, 4, 8, 8]


def test_jobs_on_a_noisy_flat_server_do_not_wander_to_slower_levels() -> None:
    # one PostgreSQL worker, cancel (make bench on a937052, 0.81): 2 and 4 alike, 1 and 8 slower, each
    # window off by up to 20 %; judged on single windows, five of six jobs started at a new level
    memory, rng = LevelMemory(), random.Random(9)
    rates = {1: 34.0, 2: 40.0, 4: 40.0, 8: 34.0}
    starts = []
    for n in range(12):
        job = AdaptiveConcurrency(known=memory.recall(KEY, now=float(n)))
        starts.append(job.start)
        now = 0.0
        for _ in range(400):
            now += rng.uniform(0.8, 1.2) / rates[job.limit]
            job.completed(now)
        memory.learn(KEY, job, now=float(n))
    assert set(starts) <= {2, 4}


def test_a_job_that_ends_while_measuring_leaves_its_windows_and_the_next_job_goes_on() -> None:
    # 400-run jobs on two API workers ended inside their level-8 window (bench/RESULTS.md)
    memory = LevelMemory()
    first = AdaptiveConcurrency(initial=2)  # the job's size unknown: it goes on measuring to its end
    assert drive(first, {1: 30, 2: 36, 4: 45, 8: 57}, answers=200) == [2, 4, 8]
    assert first.exploring and set(first.measured) == {2, 4} and first.settled == 4
    memory.learn(KEY, first, now=0.0)
    second = AdaptiveConcurrency(known=memory.recall(KEY, now=1.0))
    assert second.start == 4 and second.probe == 8
    assert drive(second, {1: 30, 2: 36, 4: 45, 8: 57}) == [4, 8] and second.settled == 8
    # a job too short for a whole window adds nothing and takes nothing away
    learnt = memory.recall(KEY, now=1.0)
    memory.learn(KEY, AdaptiveConcurrency(known=learnt), now=1.0)
    assert memory.recall(KEY, now=1.0) == learnt


def test_memory_is_kept_per_kind_of_job_and_expires() -> None:
    memory = LevelMemory(ttl_s=100)
    c = AdaptiveConcurrency()
    drive(c, {1: 15, 2: 27, 4: 50, 8: 57})
    memory.learn(KEY, c, now=1000.0)
    recalled = memory.recall(KEY, now=1050.0)
    assert recalled is not None and recalled == Evidence.of(c.samples)
    assert set(recalled.rates) == {4, 8} and abs(recalled.rates[8] - 57) < 1
    assert memory.recall(("api", "cancel", "1"), now=1050.0) is None  # another kind of request
    assert memory.recall(KEY, now=1101.0) is None  # expired
    assert memory.recall(("api", "x", "1")) is None
    memory.learn(("api", "x", "1"), AdaptiveConcurrency())  # no whole window measured
    assert memory.recall(("api", "x", "1")) is None


def test_overload_caps_the_levels_for_later_jobs_until_it_expires() -> None:
    memory = LevelMemory(ttl_s=100)
    c = AdaptiveConcurrency(initial=2)
    drive(c, {1: 30, 2: 36, 4: 45, 8: 57})
    memory.learn(KEY, c, now=0.0)
    pushed = AdaptiveConcurrency(known=memory.recall(KEY, now=1.0))
    assert pushed.start == 8
    pushed.overloaded()  # 503 at 8: halves to 4
    memory.learn(KEY, pushed, now=1.0)
    capped = memory.recall(KEY, now=2.0)
    assert capped is not None and capped.ceiling == 4 and set(capped.rates) == {2, 4}
    after = AdaptiveConcurrency(known=capped)
    assert after.maximum == 4 and after.start == 4 and after.probe is None
    assert drive(after, {1: 30, 2: 36, 4: 45, 8: 57}) == [4]
    # an hour later the cap is gone with the evidence: a cold climb again
    assert memory.recall(KEY, now=102.0) is None


def lucky_climb(
    climbing: dict[int, float], steady: dict[int, float], answers: int = 600
) -> AdaptiveConcurrency:
    """A cold job whose windows see `climbing` while it explores and `steady` once it settled
    (from 2, as the climbs these cases come from did)."""
    job, now = AdaptiveConcurrency(initial=2), 0.0
    for _ in range(answers):
        now += 1.0 / (climbing if job.exploring else steady)[job.limit]
        job.completed(now)
    return job


def test_answers_in_flight_when_settling_lower_are_not_counted_as_sustained() -> None:
    c = AdaptiveConcurrency(initial=2)
    drive(c, {1: 30, 2: 36, 4: 37, 8: 35})  # settles at 2 after measuring 8
    assert c.settled == 2 and not c.exploring and c.sustained is not None
    settling = AdaptiveConcurrency(initial=2)
    now = 0.0
    while settling.exploring:
        now += 1.0 / {1: 30, 2: 36, 4: 37, 8: 35}[settling.limit]
        settling.completed(now)
    assert settling.limit == 2 and settling._skip == 8  # the eight requests sent at level 8
    for _ in range(8):
        settling.completed(now)
    assert settling._skip == 0 and settling._sustain_start is None
