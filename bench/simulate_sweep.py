"""A model of `bench_sweep`: runops' own concurrency controller against simulated servers as
noisy as the measured ones — how often one run of the sweep would meet adaptive ≥ 0.9× the
best fixed level in every cell, for the controller and for always running the best level.

A model, not a measurement: it is for choosing what to measure (a new rule, a number of
rounds), in seconds instead of an hour; `make bench` measures it (bench/RESULTS.md).

The servers: each cell's runs/s per level as `make bench` measured them on 87e4abf
(bench/RESULTS.md), times three kinds of noise fitted to the same runs — the server's speed
from one job to the next (σ 8 %, correlated with the job before), a drift within a job (σ 12 %
over ~1.5 s) and each answer's own time (gamma, CV 0.4). With these a fixed level's 400-run job
varies ~12 % (bulk cancel) and ~9 % (reschedule), as measured (5–18 %).

Run: `.venv/bin/python -m bench.simulate_sweep [--trials 300] [--rounds 12] [--set initial=2]`.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.bench_sweep import LEVELS, orders
from runops.engine.concurrency import AdaptiveConcurrency, Evidence, FixedConcurrency, LevelMemory
from runops.engine.operations import batch_size

# runs/s at fixed 1, 2, 4, 8 (bench/RESULTS.md on 87e4abf) and whether one answer is a bulk batch
CELLS: dict[str, tuple[dict[int, float], bool]] = {
    "sqlite cancel": ({1: 59.9, 2: 58.8, 4: 65.1, 8: 62.5}, True),
    "sqlite reschedule": ({1: 36.4, 2: 39.1, 4: 39.9, 8: 38.8}, False),
    "pg-redis-1 cancel": ({1: 63.6, 2: 68.7, 4: 72.1, 8: 68.1}, True),
    "pg-redis-1 reschedule": ({1: 38.0, 2: 42.7, 4: 46.2, 8: 42.1}, False),
    "pg-redis-2 cancel": ({1: 53.4, 2: 66.5, 4: 73.1, 8: 71.9}, True),
    "pg-redis-2 reschedule": ({1: 12.9, 2: 24.3, 4: 37.5, 8: 44.5}, False),
}
KEY = ("simulated",)
Controller = FixedConcurrency | AdaptiveConcurrency


@dataclass(frozen=True)
class Noise:
    job: float = 0.08  # the server's speed from one job to the next (log σ)
    carry: float = 0.7  # how much of it the next job keeps
    drift: float = 0.12  # within a job (log σ)
    drift_s: float = 1.5  # how long a drift lasts
    answer_cv: float = 0.4  # one answer's own time


class Server:
    """Answers at the level's runs/s, times the server's moment, its drift and each answer's noise."""

    def __init__(self, rng: random.Random, noise: Noise) -> None:
        self.rng, self.noise = rng, noise
        self.moment = 0.0

    def job(self, rates: dict[int, float], runs: int, per_answer: int, controller: Controller) -> float:
        """Seconds the job takes; the controller is told of every answer as runops' apply does."""
        rng, noise = self.rng, self.noise
        self.moment = noise.carry * self.moment + rng.gauss(0.0, noise.job)
        shape = 1.0 / noise.answer_cv**2 if noise.answer_cv else 0.0
        drift, now, done = 0.0, 0.0, 0
        while done < runs:
            answered = min(per_answer, runs - done)
            rate = rates[controller.limit] * math.exp(self.moment + drift)
            dt = (rng.gammavariate(shape, 1.0 / shape) if shape else 1.0) * answered / rate
            keep = math.exp(-dt / noise.drift_s)
            drift = keep * drift + math.sqrt(1.0 - keep * keep) * rng.gauss(0.0, noise.drift)
            now += dt
            done += answered
            controller.completed(now, runs=answered)
        return now


def one_run(
    rates: dict[int, float],
    bulk: bool,
    rng: random.Random,
    adaptive: Callable[[Evidence | None, int], Controller],
    rounds: int,
    runs: int = 400,
    noise: Noise = Noise(),
) -> float:
    """One sweep of one cell, as `bench_sweep` runs it: a fixed warm-up job, then the rounds in
    its order; adaptive ÷ best fixed (runs/s)."""
    server, memory, clock = Server(rng, noise), LevelMemory(), 0.0
    per_answer = batch_size(runs) if bulk else 1
    server.job(rates, runs, per_answer, FixedConcurrency(2))
    variants: list[int | None] = [*LEVELS, None]  # None: adaptive
    seconds = dict.fromkeys(variants, 0.0)
    for order in orders(variants, rounds):
        for level in order:
            controller = (
                FixedConcurrency(level) if level is not None else adaptive(memory.recall(KEY, clock), runs)
            )
            took = server.job(rates, runs, per_answer, controller)
            clock += took + 1.0
            if isinstance(controller, AdaptiveConcurrency):
                memory.learn(KEY, controller, clock)
            seconds[level] += took
    return min(seconds[level] for level in LEVELS) / seconds[None]


def controller_with(fields: dict[str, float]) -> Callable[[Evidence | None, int], Controller]:
    """runops' controller as `apply_plan` builds it, with some fields set otherwise."""

    def build(known: Evidence | None, runs: int) -> Controller:
        return AdaptiveConcurrency(known=known, job_runs=runs, **fields)

    return build


def always_best(rates: dict[int, float]) -> Callable[[Evidence | None, int], Controller]:
    best = max(rates, key=rates.__getitem__)
    return lambda known, runs: FixedConcurrency(best)


def table(title: str, ratios: dict[str, list[float]]) -> str:
    lines = [f"{title}", "| cell | mean | 10th percentile | runs ≥ 0.9 |", "|---|---:|---:|---:|"]
    for cell, values in ratios.items():
        tenth = sorted(values)[len(values) // 10]
        met = sum(v >= 0.9 for v in values) / len(values)
        lines.append(f"| {cell} | {statistics.mean(values):.3f} | {tenth:.3f} | {met:.0%} |")
    trials = len(next(iter(ratios.values())))
    every = sum(all(ratios[c][t] >= 0.9 for c in ratios) for t in range(trials)) / trials
    lines.append(f"| **all six cells** | | | **{every:.0%}** |")
    return "\n".join(lines)


def simulate(
    trials: int, rounds: int, who: str, fields: dict[str, float], runs: int = 400
) -> dict[str, list[float]]:
    ratios: dict[str, list[float]] = {}
    for cell, (rates, bulk) in CELLS.items():
        adaptive = always_best(rates) if who == "always best" else controller_with(fields)
        ratios[cell] = [
            one_run(rates, bulk, random.Random(trial), adaptive, rounds, runs) for trial in range(trials)
        ]
    return ratios


def parse_fields(pairs: list[str]) -> dict[str, float]:
    fields: dict[str, float] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        fields[name] = int(value) if value.lstrip("-").isdigit() else float(value)
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=300, help="simulated runs of the sweep")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--runs", type=int, default=400, help="runs per job")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="controller fields")
    args = parser.parse_args()
    fields = parse_fields(args.set)
    for who in ("runops", "always best"):
        shown = f" ({', '.join(args.set)})" if args.set and who == "runops" else ""
        ratios = simulate(args.trials, args.rounds, who, fields, args.runs)
        print(table(f"\n{who}{shown}: {args.trials} simulated sweeps of {args.rounds} rounds", ratios))


if __name__ == "__main__":
    main()
