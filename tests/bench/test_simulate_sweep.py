"""The sweep's model: noiseless it is exact, its noise is the measured servers' size, and it
runs runops' own controller the way the sweep does."""

from __future__ import annotations

import random
import statistics

from bench.simulate_sweep import CELLS, Noise, Server, always_best, controller_with, one_run
from runops.engine.concurrency import FixedConcurrency

QUIET = Noise(job=0.0, drift=0.0, answer_cv=0.0)


def test_without_noise_always_running_the_best_level_scores_exactly_one() -> None:
    for rates, bulk in CELLS.values():
        assert one_run(rates, bulk, random.Random(1), always_best(rates), rounds=4, noise=QUIET) == 1.0


def test_without_noise_the_controller_loses_only_what_it_spends_measuring() -> None:
    # steep (two workers, reschedule: 1 is a third of 8) and flat (SQLite, cancel) servers
    for cell in ("pg-redis-2 reschedule", "sqlite cancel"):
        rates, bulk = CELLS[cell]
        ratio = one_run(rates, bulk, random.Random(1), controller_with({}), rounds=4, noise=QUIET)
        assert 0.93 <= ratio <= 1.0, cell
    # a controller that never climbs from 1 loses what 1 is slower by
    rates, bulk = CELLS["pg-redis-2 reschedule"]
    stuck = one_run(
        rates, bulk, random.Random(1), controller_with({"initial": 1, "maximum": 1}), 4, noise=QUIET
    )
    assert abs(stuck - rates[1] / rates[8]) < 1e-9


def test_a_fixed_levels_jobs_vary_as_much_as_the_measured_ones() -> None:
    # make bench on 87e4abf: one 400-run job at one fixed level varied 5–18 % (coefficient of variation)
    for cell in ("sqlite cancel", "pg-redis-1 reschedule"):
        rates, bulk = CELLS[cell]
        server = Server(random.Random(3), Noise())
        per_answer = 20 if bulk else 1
        times = [server.job(rates, 400, per_answer, FixedConcurrency(4)) for _ in range(60)]
        assert 0.05 < statistics.stdev(times) / statistics.mean(times) < 0.18, cell


def test_the_same_seed_gives_the_same_run() -> None:
    rates, bulk = CELLS["pg-redis-1 cancel"]
    runs = [one_run(rates, bulk, random.Random(7), controller_with({}), rounds=4) for _ in range(2)]
    assert runs[0] == runs[1]
