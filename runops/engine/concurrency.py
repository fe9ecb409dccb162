"""How many state changes to send at once: fixed, or adaptive by measured throughput."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

WARM_TTL_S = 3600.0  # what a level measured is trusted for an hour; servers get scaled, not often


class FixedConcurrency:
    """Always the same number in flight (benchmarks sweep these)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("concurrency must be at least 1")
        self.limit = limit
        self.peak = limit
        self.start = limit

    exploring = False

    def completed(self, now: float | None = None, runs: int = 1) -> None:
        pass

    def overloaded(self) -> None:
        pass

    @property
    def settled(self) -> int:
        return self.limit


@dataclass(frozen=True)
class Sample:
    """Runs answered over some seconds at one level: a window, or the stretch after settling."""

    level: int
    runs: float
    seconds: float


@dataclass(frozen=True)
class Evidence:
    """What earlier jobs of one kind measured on one API: per job, runs and seconds at each level."""

    jobs: tuple[tuple[tuple[int, float, float], ...], ...] = ()  # per job: (level, runs, seconds)
    ceiling: int | None = None  # the level a job fell back to on overload: none above it

    @classmethod
    def of(cls, samples: list[Sample], ceiling: int | None = None) -> Evidence:
        """One job's samples."""
        return cls(ceiling=ceiling).plus(samples)

    @classmethod
    def of_jobs(cls, jobs: list[list[Sample]], ceiling: int | None = None) -> Evidence:
        evidence = cls(ceiling=ceiling)
        for samples in jobs:
            evidence = evidence.plus(samples)
        return evidence

    def plus(self, samples: list[Sample]) -> Evidence:
        """With one more job's samples."""
        job = pooled(samples)
        return Evidence((*self.jobs, job) if job else self.jobs, self.ceiling)

    @cached_property
    def _comparing(self) -> list[tuple[tuple[int, float, float], ...]]:
        """The jobs that measured more than one level, in the largest group of levels they link."""
        jobs = [job for job in self.jobs if len(job) > 1]
        group: dict[int, int] = {}  # level -> a level of its group (union-find)

        def root(level: int) -> int:
            while group.setdefault(level, level) != level:
                level = group[level]
            return level

        for job in jobs:
            first = root(job[0][0])
            for level, _, _ in job[1:]:
                group[root(level)] = first
        sizes: dict[int, int] = {}
        for job in jobs:
            top = root(job[0][0])
            sizes[top] = sizes.get(top, 0) + 1
        if not sizes:
            return []
        largest = max(sizes, key=lambda r: (sizes[r], r))
        return [job for job in jobs if root(job[0][0]) == largest]

    @cached_property
    def compared(self) -> dict[int, int]:
        """How many jobs measured each level beside another one: only those say how levels compare."""
        counts: dict[int, int] = {}
        for job in self._comparing:
            for level, _, _ in job:
                counts[level] = counts.get(level, 0) + 1
        return counts

    @cached_property
    def rates(self) -> dict[int, float]:
        """Runs/s per level at the server's typical speed, judged only within jobs.

        The server's own speed moves by 10–30 % in phases of a job or longer (make bench on
        06a6086, one worker, reschedule: a whole round ran 20 % slow), so rates from different
        jobs are not comparable: a level measured in a slow moment looked slow for the hour. Each
        job measures some levels at one moment; log(runs/s) = the job's moment + the level's
        effect, fitted by least squares over the jobs that measured two levels or more.
        """
        cells = [
            (j, level, math.log(runs / seconds))
            for j, job in enumerate(self._comparing)
            for level, runs, seconds in job
            if runs > 0
        ]
        if not cells:
            return {}
        effect = {level: 0.0 for _, level, _ in cells}
        moment: dict[int, float] = {}
        for _ in range(500):  # alternating means: a handful of levels, converges fast
            moment = _means((j, y - effect[level]) for j, level, y in cells)
            new = _means((level, y - moment[j]) for j, level, y in cells)
            done = max(abs(new[level] - effect[level]) for level in new) < 1e-9
            effect = new
            if done:
                break
        typical = sum(moment.values()) / len(moment)
        return {level: math.exp(e + typical) for level, e in sorted(effect.items())}


def pooled(samples: list[Sample]) -> tuple[tuple[int, float, float], ...]:
    """One job's samples as (level, runs, seconds), its windows and stretch at one level added up."""
    cells: dict[int, tuple[float, float]] = {}
    for s in samples:
        runs, seconds = cells.get(s.level, (0.0, 0.0))
        cells[s.level] = (runs + s.runs, seconds + s.seconds)
    return tuple((level, runs, seconds) for level, (runs, seconds) in sorted(cells.items()) if seconds > 0)


def _means(pairs: Iterable[tuple[int, float]]) -> dict[int, float]:
    sums: dict[int, list[float]] = {}
    for key, value in pairs:
        sums.setdefault(key, []).append(value)
    return {key: sum(values) / len(values) for key, values in sums.items()}


def lowest_within(rates: dict[int, float], tie: float) -> int:
    """The lowest level within `tie` of the fastest: the same speed for less load on the server."""
    fast_enough = max(rates.values()) * (1.0 - tie)
    return min(level for level, rate in rates.items() if rate >= fast_enough)


class LevelMemory:
    """What adaptive jobs measured, per Prefect API and kind of request, for the next job.

    The dashboard runs many jobs against one API in one process. A single window (~2 s) varies by
    10–25 % on these servers, so one job's climb often picks the wrong level, and a memory of only
    where a job settled kept it there (make bench on a937052). So every job's windows and settled
    stretch are kept, and the next job starts from how the levels compared in all of them. Samples
    expire after `ttl_s`; a job pushed back by the server (429/503/locked) caps the levels at the
    one it fell back to, for as long.
    """

    def __init__(self, ttl_s: float = WARM_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._jobs: dict[tuple[str, ...], list[tuple[float, list[Sample]]]] = {}
        self._ceilings: dict[tuple[str, ...], tuple[float, int]] = {}

    def recall(self, key: tuple[str, ...], now: float | None = None) -> Evidence | None:
        now = time.monotonic() if now is None else now
        jobs = [samples for at, samples in self._jobs.get(key, []) if now - at <= self.ttl_s]
        capped = self._ceilings.get(key)
        ceiling = capped[1] if capped is not None and now - capped[0] <= self.ttl_s else None
        if not jobs and ceiling is None:
            return None
        below = [[s for s in samples if ceiling is None or s.level <= ceiling] for samples in jobs]
        return Evidence.of_jobs(below, ceiling)

    def learn(self, key: tuple[str, ...], controller: AdaptiveConcurrency, now: float | None = None) -> None:
        """Keep what the job measured (a job with no whole window adds nothing)."""
        now = time.monotonic() if now is None else now
        kept = [(at, samples) for at, samples in self._jobs.get(key, []) if now - at <= self.ttl_s]
        if controller.overloaded_seen:
            # recall leaves out what lies above the cap: every sample learnt so far expires no later
            self._ceilings[key] = (now, controller.limit)
        samples = controller.samples
        self._jobs[key] = [*kept, (now, samples)] if samples else kept

    def clear(self) -> None:
        self._jobs.clear()
        self._ceilings.clear()


MEMORY = LevelMemory()


@dataclass
class AdaptiveConcurrency:
    """Hill-climbing on measured runs/s over the levels 1, 2, 4, 8, steered by what earlier jobs measured.

    Measured here (DESIGN.md, issue #9, bench/RESULTS.md): one SQLite server is fastest at 1–2
    and slower with more in flight, one PostgreSQL API worker at 2–4, two workers at 8 — so no
    fixed number is right everywhere.

    Cold (nothing `known`): start at `initial` (4: in every setup measured, 4 was the best
    fixed level or within 16 % of it — 2 was up to 45 % slower on two workers — so a cold job
    that cannot measure much loses least there); measure a window (at least `min_seconds` and a few
    answers, not counting answers still in flight from the previous level); climb while a level is
    at least `gain` times as fast as the one below (1.0: not slower — trying one level too many
    costs one window, stopping one level short the rest of the job); when climbing stops and the
    lowest level tried is the best so far, try the one below it once; then settle on the lowest
    level within `tie` of the best — the same speed for less load on the server.

    Warm (`known`: the windows and settled stretches of earlier jobs of this kind, each job's
    levels compared with each other — `Evidence.rates`): start at the lowest level within `tie`
    of the best, measure one window there, then one window at a neighbour (×2 or ÷2) that could
    still be the faster one — not measured yet, or slower by less than a window's `noise` shrunk
    by the number of jobs that compared it (the less-compared one if both could) — and settle on
    the best level of all the evidence, this job's included. Deciding on single windows failed
    both ways: a climb won on a lucky window was kept by every later job (bench/RESULTS-sweep.md
    on 260ccbd, one worker, reschedule: 0.84), and a check against single windows sent jobs
    wandering on a flat server (make bench on a937052, one worker, cancel: 0.81) or locked them
    at a level one noisy window had favoured (two workers: 0.82–0.86). Rates summed over jobs
    averaged the noise but mixed the server's moments: a level measured in a slow round looked
    slow for the hour (make bench on 06a6086, one worker, reschedule: 0.86). Compared within jobs,
    both cancel out; the probe costs one window at a level that is at most a window's noise
    slower, and stops once enough jobs compared it. With no neighbour worth a window the job runs
    at its level throughout (and, measuring one level only, adds nothing to the comparison).

    Given `job_runs`, a level is only tried when its window can end before the job does, and a
    warm job's probe only when it takes at most `probe_share` of the job: a 400-run bulk cancel
    is ~20 answers, a window at 8 needs 8 of them after the 4 still in flight, and a probe that
    filled the rest of the job at a level 10 % slower cost every warm job 5 % (bench/
    simulate_sweep.py; `_fits`). Such short jobs run at their start level; longer ones compare.

    Halve and settle at once on overload (429/503/locked); the memory then caps the levels there.
    """

    initial: int = 4
    maximum: int = 8
    gain: float = 1.0
    min_window: int = 3  # answers per window, at least, and `per_limit` per request in flight
    per_limit: int = 1
    min_seconds: float = 2.0
    known: Evidence | None = None
    noise: float = 0.2  # how far one window strays from a level's rate (bench: 10–25 %)
    tie: float = 0.05
    job_runs: int | None = None  # runs this job will answer, when known: a window must fit in them
    probe_share: float = 0.25  # at most this share of the job goes to a warm job's probe
    limit: int = field(init=False)
    start: int = field(init=False)
    probe: int | None = field(init=False, default=None)  # the neighbour a warm job measures once
    overloaded_seen: bool = field(init=False, default=False)
    peak: int = field(init=False)
    _windows: list[Sample] = field(init=False, default_factory=list)
    _frozen: bool = field(init=False, default=False)
    _skip: int = field(init=False, default=0)
    _sustain_start: float | None = field(init=False, default=None)
    _sustain_end: float = field(init=False, default=0.0)
    _sustain_runs: int = field(init=False, default=0)
    _window_start: float | None = field(init=False, default=None)
    _window_count: int = field(init=False, default=0)
    _window_runs: int = field(init=False, default=0)
    _runs: int = field(init=False, default=0)  # every run answered so far, at any level
    _answers: int = field(init=False, default=0)
    _halving_ends: int = field(init=False, default=0)  # `_answers` by which a halving's requests are in

    def __post_init__(self) -> None:
        if self.known is not None and self.known.ceiling is not None:
            self.maximum = max(1, min(self.maximum, self.known.ceiling))
        start = self.initial
        if self.warm:
            start = lowest_within(self._allowed(self.known), self.tie)
            self.probe = self._worth_probing(start)
            self._frozen = self.probe is None
        self.limit = max(1, min(start, self.maximum))
        self.peak = self.start = self.limit

    @property
    def warm(self) -> bool:
        """Started from earlier jobs' measurements (jobs that compared levels)."""
        return bool(self._allowed(self.known))

    def _allowed(self, evidence: Evidence | None) -> dict[int, float]:
        return self._capped(evidence.rates) if evidence is not None else {}

    def _capped(self, rates: dict[int, float]) -> dict[int, float]:
        return {level: rate for level, rate in rates.items() if level <= self.maximum}

    def _worth_probing(self, best: int) -> int | None:
        """The neighbour of `best` that may still beat it on what is known (None: neither may).

        A level compared in n jobs is judged to within a window's `noise` / √n: each job's
        comparison is one independent draw (its windows sit in one moment of the server)."""
        assert self.known is not None
        rates, compared = self._allowed(self.known), self.known.compared

        def may_beat(level: int) -> bool:
            if level not in rates:  # unmeasured: up resumes a climb; down only below the lowest tried
                return level > best or best == min(rates)
            return rates[level] * (1.0 + self.noise / math.sqrt(compared[level])) >= rates[best]

        candidates = [n for n in (best * 2, best // 2) if 1 <= n <= self.maximum and may_beat(n)]
        return min(candidates, key=lambda n: (compared.get(n, 0), -n), default=None)

    def _window(self, level: int | None = None) -> int:
        """Answers a window needs at `level` (default: the current one)."""
        return max(self.min_window, self.per_limit * (self.limit if level is None else level))

    def completed(self, now: float | None = None, runs: int = 1) -> None:
        now = time.monotonic() if now is None else now
        self._runs += runs
        self._answers += 1
        if self._frozen:
            if not self.overloaded_seen:
                self._sustain(now, runs)
            return
        if self._skip > 0:  # still an answer to a request sent at the previous level
            self._skip -= 1
            return
        if self._window_start is None:  # the clock starts at the first answer of this level
            self._window_start = now
            return
        self._window_count += 1
        self._window_runs += runs
        elapsed = now - self._window_start
        if self._window_count < self._window() or elapsed < self.min_seconds:
            return
        self._windows.append(Sample(self.limit, self._window_runs, elapsed))
        if self.warm:
            self._decide_warm()
        else:
            self._decide_cold()

    def _decide_warm(self) -> None:
        probe = self.probe  # a window was just measured here: a probe measured already is done
        if probe is not None and probe not in self.measured and self._fits(probe, self.probe_share):
            self._move(probe)
            return
        self._settle(self._choice())

    def _decide_cold(self) -> None:
        mine = self.measured
        here = self.limit
        rate = mine[here]
        up, down = here * 2, here // 2
        if up <= self.maximum and up not in mine and (down not in mine or rate >= mine[down] * self.gain):
            # no room for a window up there: stay rather than measure downwards, which only a
            # level measured slower above would call for
            if self._fits(up, 1.0):
                self._move(up)
            else:
                self._settle(self._choice())
            return
        lowest = min(mine)
        best = max(mine, key=mine.__getitem__)
        if best == lowest and lowest // 2 >= 1 and lowest // 2 not in mine and self._fits(lowest // 2, 1.0):
            self._move(lowest // 2)
            return
        self._settle(self._choice())

    def _fits(self, level: int, share: float) -> bool:
        """Whether a window at `level` would end before the job does, within `share` of its runs.

        A window cut short by the job's end measures nothing, and its runs went at a level that
        may be the slower one. The window's runs are estimated from this job so far: the answers
        still in flight from this level, the one that starts the clock, then `_window(level)`
        answers over at least `min_seconds` at the rate of the last window."""
        if self.job_runs is None:
            return True
        per_answer = self._runs / self._answers
        last = self._windows[-1]
        lead_in = (self.limit + 1) * per_answer
        needed = max(
            lead_in + self._window(level) * per_answer,
            lead_in + last.runs / last.seconds * self.min_seconds,
        )
        return needed <= min(self.job_runs - self._runs, share * self.job_runs)

    def _settle(self, level: int) -> None:
        if level != self.limit:
            self._skip = self.limit  # answers to requests sent at the level measured last
        self.limit, self._frozen = level, True
        self.peak = max(self.peak, level)

    def _sustain(self, now: float, runs: int) -> None:
        """Count what the settled level delivers over the rest of the job."""
        if self._skip > 0:
            self._skip -= 1
        elif self._sustain_start is None:
            self._sustain_start = now
        else:
            self._sustain_runs += runs
            self._sustain_end = now

    def _evidence(self) -> Evidence:
        return (self.known or Evidence()).plus(self._windows)

    def _choice(self) -> int:
        """The lowest level within `tie` of the best, on everything measured (earlier jobs too;
        this job's own windows alone while they are all there is to compare)."""
        rates = self._allowed(self._evidence()) or self._capped(self.measured)
        return lowest_within(rates, self.tie) if rates else self.limit

    def _move(self, level: int) -> None:
        self._skip = self.limit  # answers to requests sent at the old level are not this level's
        self.limit = level
        self.peak = max(self.peak, level)
        self._window_start, self._window_count, self._window_runs = None, 0, 0

    def overloaded(self) -> None:
        """The server pushed back: halve at once and stop climbing — once for the requests that
        were in flight together. Each of them may be pushed back in the same moment; halving for
        every one took a busy SQLite server from 8 to 1 in one burst of 503s (a 10,000-run cancel
        at 43 runs/s, against 61 at 8 when Prefect's client had hidden them: make bench on
        b025cf1, stopped). A push-back from a request sent at the halved level halves again."""
        if self._answers < self._halving_ends:  # still answers to requests sent before the halving
            return
        self._halving_ends = self._answers + self.limit
        self.limit = max(1, self.limit // 2)
        self._frozen = self.overloaded_seen = True

    @property
    def exploring(self) -> bool:
        """Still measuring levels (not settled yet)."""
        return not self._frozen

    @property
    def windows(self) -> int:
        """Whole windows measured by this job."""
        return len(self._windows)

    @property
    def measured(self) -> dict[int, float]:
        """Runs/s this job measured per level in its windows."""
        return {level: runs / seconds for level, runs, seconds in pooled(self._windows)}

    @property
    def settled(self) -> int:
        """The level settled on; while still exploring, the one it would settle on now."""
        if self.exploring and (self._windows or self.warm):
            return self._choice()
        return self.limit

    @property
    def sustained(self) -> float | None:
        """Runs/s at the settled level since settling, once that is at least a window's worth."""
        stretch = self._stretch()
        return stretch.runs / stretch.seconds if stretch is not None else None

    def _stretch(self) -> Sample | None:
        if self._sustain_start is None or self._sustain_runs < self.min_window:
            return None
        elapsed = self._sustain_end - self._sustain_start
        return Sample(self.limit, self._sustain_runs, elapsed) if elapsed >= self.min_seconds else None

    @property
    def samples(self) -> list[Sample]:
        """What this job measured: its windows, and the stretch after settling."""
        stretch = self._stretch()
        return [*self._windows, *([stretch] if stretch is not None else [])]
