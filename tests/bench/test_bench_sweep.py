"""The sweep's order (balanced, spread out) and resolution (how often always running the best
level would still miss 0.9)."""

from __future__ import annotations

import itertools

import pytest

from bench.bench_sweep import miss_chance, orders


def test_steady_jobs_cannot_miss_and_the_figure_is_repeatable() -> None:
    assert miss_chance({"fixed 1": [10.0] * 6, "fixed 2": [11.0] * 6}) == 0.0
    noisy = {"fixed 2": [9.0, 14.0, 10.0, 15.0, 9.5, 13.0], "fixed 4": [10.0, 13.0, 11.0, 12.0, 10.5, 12.5]}
    assert miss_chance(noisy) == miss_chance(noisy)


def test_noisier_jobs_miss_more_often() -> None:
    # two levels equally fast on average; only how much their jobs vary differs
    calm = {"fixed 2": [11.0, 12.0] * 3, "fixed 4": [11.0, 12.0] * 3}
    rough = {"fixed 2": [8.0, 15.0] * 3, "fixed 4": [8.0, 15.0] * 3}
    assert miss_chance(calm) == 0.0  # 11/12 > 0.9: no draw can miss
    assert 0.05 < miss_chance(rough) < 0.6


@pytest.mark.parametrize("rounds", [4, 6, 8, 10, 12, 14])
def test_every_variant_runs_once_a_round_at_the_same_mean_position_and_never_twice_in_a_row(
    rounds: int,
) -> None:
    variants = ["fixed 1", "fixed 2", "fixed 4", "fixed 8", "adaptive"]
    plan = orders(variants, rounds)
    assert len(plan) == rounds and all(sorted(order) == sorted(variants) for order in plan)
    assert len({sum(order.index(v) for order in plan) for v in variants}) == 1
    sequence = [v for order in plan for v in order]
    assert all(a != b for a, b in itertools.pairwise(sequence))


def test_an_odd_number_of_rounds_is_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        orders(["a", "b"], 3)
