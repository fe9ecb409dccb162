"""The concurrency benchmark's order (balanced, spread out), resolution (how often always running
the best level would still miss the target) and targets."""

from __future__ import annotations

import itertools

import pytest

from bench.bench_concurrency import miss_chance, orders, target_for


def test_steady_jobs_cannot_miss_and_the_figure_is_repeatable() -> None:
    assert miss_chance({"fixed 1": [10.0] * 6, "fixed 2": [11.0] * 6}, 0.9) == 0.0
    noisy = {"fixed 2": [9.0, 14.0, 10.0, 15.0, 9.5, 13.0], "fixed 4": [10.0, 13.0, 11.0, 12.0, 10.5, 12.5]}
    assert miss_chance(noisy, 0.9) == miss_chance(noisy, 0.9)


def test_noisier_jobs_miss_more_often() -> None:
    # two levels equally fast on average; only how much their jobs vary differs
    calm = {"fixed 2": [11.0, 12.0] * 3, "fixed 4": [11.0, 12.0] * 3}
    rough = {"fixed 2": [8.0, 15.0] * 3, "fixed 4": [8.0, 15.0] * 3}
    assert miss_chance(calm, 0.9) == 0.0  # 11/12 > 0.9: no draw can miss
    assert 0.05 < miss_chance(rough, 0.9) < 0.6


@pytest.mark.parametrize("rounds", [4, 6, 8, 10, 12, 14])
def test_every_variant_runs_once_a_round_at_the_same_mean_position_and_never_twice_in_a_row(
    rounds: int,
) -> None:
    variants = ["fixed 1", "fixed 2", "fixed 4", "fixed 8", "controller"]
    plan = orders(variants, rounds)
    assert len(plan) == rounds and all(sorted(order) == sorted(variants) for order in plan)
    assert len({sum(order.index(v) for order in plan) for v in variants}) == 1
    sequence = [v for order in plan for v in order]
    assert all(a != b for a, b in itertools.pairwise(sequence))


def test_an_odd_number_of_rounds_is_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        orders(["a", "b"], 3)


def test_two_api_workers_must_reach_0_9_of_the_best_fixed_level_and_other_setups_0_85() -> None:
    assert target_for("pg-redis-2") == 0.9
    assert target_for("sqlite") == target_for("postgres") == 0.85
