"""How many state changes to send at once: fixed, or adaptive by measured throughput."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

WARM_TTL_S = 3600.0  # a remembered level is trusted for an hour; servers get scaled, not often


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
class Settled:
    """Where an adaptive job ended up: its level and the runs/s measured there.

    A job can end before it has measured every level it meant to try (a few hundred runs are a
    handful of windows). Then `measured` holds the windows it did measure and `level` is the one
    it was still measuring: the next job resumes the climb there instead of starting cold.
    """

    level: int
    rate: float
    at: float  # time.monotonic() when it was measured
    measured: tuple[tuple[int, float], ...] = ()

    @property
    def unfinished(self) -> bool:
        return bool(self.measured)


class SettledLevels:
    """What adaptive jobs settled on, per Prefect API and kind of request, for the next job.

    The dashboard runs many jobs against one API in one process; exploring again from level 2
    each time spends a few windows at levels the server does not reward — most of a short job.
    TCP does the same with its per-destination metrics cache. Entries expire after `ttl_s`, and
    a job that hit overload forgets its entry, so a changed server is explored afresh.
    """

    def __init__(self, ttl_s: float = WARM_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._by_key: dict[tuple[str, ...], Settled] = {}

    def recall(self, key: tuple[str, ...], now: float | None = None) -> Settled | None:
        now = time.monotonic() if now is None else now
        found = self._by_key.get(key)
        return found if found is not None and now - found.at <= self.ttl_s else None

    def learn(self, key: tuple[str, ...], controller: AdaptiveConcurrency, now: float | None = None) -> None:
        """Keep where the controller settled, or how far its climb got (nothing new if it measured
        no whole window: what an earlier job learnt stays until it expires)."""
        if controller.overloaded_seen:
            self._by_key.pop(key, None)
            return
        rate = controller.rate
        if controller.windows == 0 or rate is None:
            return
        at = time.monotonic() if now is None else now
        if controller.exploring and controller.limit in controller.measured:
            return  # ended while measuring its remembered level again: one slow window, no news
        if controller.exploring:
            measured = tuple(sorted(controller.measured.items()))
            self._by_key[key] = Settled(controller.limit, rate, at, measured)
            return
        rival = controller.rival()
        if rival is None:
            self._by_key[key] = Settled(controller.settled, rate, at)
            return
        # The level won on a lucky window: over the rest of the job it sustained less than another
        # level's window showed. The next job measures that level again, against what this one
        # sustained, instead of keeping the winner for good (bench/RESULTS.md, one PostgreSQL
        # worker, reschedule: a lucky climb 2 → 4 → 8 kept every later job at 8, 0.88 of 4).
        measured = {level: r for level, r in controller.measured.items() if level != rival}
        measured[controller.settled] = rate
        self._by_key[key] = Settled(rival, rate, at, tuple(sorted(measured.items())))

    def clear(self) -> None:
        self._by_key.clear()


SETTLED = SettledLevels()


@dataclass
class AdaptiveConcurrency:
    """Hill-climbing on measured runs/s, over the levels 1, 2, 4, 8.

    Measured here (DESIGN.md, issue #9, bench/RESULTS.md): one SQLite server is fastest at 1–2
    and slower with more in flight, one PostgreSQL API worker at 2–4, two workers at 8 — so no
    fixed number is right everywhere. Start at `initial`; measure a window (at least
    `min_seconds` and a few answers, not counting answers still in flight from the previous
    level); climb while a level is at least `gain` times as fast as the one below (1.0: not
    slower — a window is noisy, and trying one level too many costs one window, while stopping
    one level short costs the rest of the job); when climbing stops and the lowest level tried
    is the best so far, try the one below it once; then settle on the lowest level measured
    within `tie` of the best — the same speed for less load on the server, and a window's noise
    is about that size (bench/RESULTS.md: on SQLite and PostgreSQL the top levels are within a
    few per cent of each other, and the higher one is the slower over a whole job more often).
    Halve and settle at once on overload (429/503/locked).

    `warm` (where the previous job of the same kind on the same API settled) starts the job at
    that level; when a window there is at least `keep` times the rate measured then, the job
    stays there without exploring; when two windows in a row are below, it explores from there
    as above (one window on one SQLite server varies by ~25 %: a single slow one is no reason
    to spend the job at other levels). A warm start from
    an unfinished climb resumes it: the levels already measured count, and the job starts at
    the level the previous one was still measuring.

    Once settled, the job keeps counting at its level, and `rate` is what it sustained there
    over the rest of the job — what the next job's warm check compares with. A single window
    is noisy, and the window that won the climb is the luckiest of them: the next job measured
    against it left a level it should have kept (bench/RESULTS.md, one PostgreSQL worker).
    The same luck can win the climb itself: when the settled level sustains less than another
    level's window showed by more than a window's noise (`keep`, the margin the warm check allows),
    the next job measures that other level again (`rival`; SettledLevels records it as a climb to
    resume) rather than keeping the winner. Not by `tie`: the best of the other levels' single
    windows beats a whole job's average by more than 5 % on noise alone, and with that margin jobs
    on a flat server re-explored nearly every time (bench/RESULTS.md, one PostgreSQL worker,
    cancel: five of six jobs started at a new level, 0.81 of the best fixed). The price: a climb
    won by a window luckier than that is kept (bench/RESULTS-sweep.md, one worker, reschedule:
    every job at 8, 0.84 of 4) — both failures come from deciding on single windows.
    """

    initial: int = 2
    maximum: int = 8
    gain: float = 1.0
    min_window: int = 3  # answers per window, at least, and `per_limit` per request in flight
    per_limit: int = 1
    min_seconds: float = 2.0
    warm: Settled | None = None
    keep: float = 0.8
    tie: float = 0.05
    limit: int = field(init=False)
    start: int = field(init=False)
    overloaded_seen: bool = field(init=False, default=False)
    peak: int = field(init=False)
    _best: dict[int, float] = field(init=False, default_factory=dict)
    _frozen: bool = field(init=False, default=False)
    _skip: int = field(init=False, default=0)
    _warm_misses: int = field(init=False, default=0)
    _sustain_start: float | None = field(init=False, default=None)
    _sustain_end: float = field(init=False, default=0.0)
    _sustain_runs: int = field(init=False, default=0)
    _window_start: float | None = field(init=False, default=None)
    _window_count: int = field(init=False, default=0)
    _window_runs: int = field(init=False, default=0)
    windows: int = field(init=False, default=0)  # whole windows measured by this job

    def __post_init__(self) -> None:
        start = self.warm.level if self.warm is not None else self.initial
        self.limit = max(1, min(start, self.maximum))
        self.peak = self.start = self.limit
        if self.warm is not None and self.warm.unfinished:
            self._best = {level: rate for level, rate in self.warm.measured if level <= self.maximum}

    def _window(self) -> int:
        return max(self.min_window, self.per_limit * self.limit)

    def completed(self, now: float | None = None, runs: int = 1) -> None:
        now = time.monotonic() if now is None else now
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
        self._best[self.limit] = self._window_runs / max(elapsed, 1e-6)
        self.windows += 1
        self._decide()

    def _decide(self) -> None:
        here, rate = self.limit, self._best[self.limit]
        warm = self.warm
        if warm is not None and not warm.unfinished and len(self._best) == 1 and here == warm.level:
            if rate >= self.keep * warm.rate:
                self._frozen = True  # the previous job's level still holds: no windows spent elsewhere
                return
            self._warm_misses += 1
            if self._warm_misses < 2:  # measure the same level once more before leaving it
                self._window_start, self._window_count, self._window_runs = None, 0, 0
                return
        up, down = here * 2, here // 2
        if (
            up <= self.maximum
            and up not in self._best
            and (down not in self._best or rate >= self._best[down] * self.gain)
        ):
            self._move(up)
            return
        lowest = min(self._best)
        best = max(self._best, key=self._best.__getitem__)
        if best == lowest and lowest // 2 >= 1 and lowest // 2 not in self._best:
            self._move(lowest // 2)
            return
        choice = self._choice()
        if choice != here:
            self._skip = here  # answers to requests sent at the level measured last
        self.limit, self._frozen = choice, True
        self.peak = max(self.peak, self.limit)  # a resumed climb can settle above where this job began

    def _sustain(self, now: float, runs: int) -> None:
        """Count what the settled level delivers over the rest of the job."""
        if self._skip > 0:
            self._skip -= 1
        elif self._sustain_start is None:
            self._sustain_start = now
        else:
            self._sustain_runs += runs
            self._sustain_end = now

    def rival(self) -> int | None:
        """A level whose window beat what the settled level sustained by more than a window's
        noise (`keep`): the settled one may have won on a lucky window (None: it held up, or
        nothing to compare)."""
        sustained = self.sustained
        if sustained is None:
            return None
        others = {level: rate for level, rate in self._best.items() if level != self.limit}
        if not others:
            return None
        best = max(others, key=others.__getitem__)
        return best if others[best] * self.keep > sustained else None

    def _choice(self) -> int:
        """The lowest level measured within `tie` of the best one."""
        fast_enough = max(self._best.values()) * (1.0 - self.tie)
        return min(level for level, rate in self._best.items() if rate >= fast_enough)

    def _move(self, level: int) -> None:
        self._skip = self.limit  # answers to requests sent at the old level are not this level's
        self.limit = level
        self.peak = max(self.peak, level)
        self._window_start, self._window_count, self._window_runs = None, 0, 0

    def overloaded(self) -> None:
        """The server pushed back: halve at once and stop climbing."""
        self.limit = max(1, self.limit // 2)
        self._frozen = self.overloaded_seen = True

    @property
    def exploring(self) -> bool:
        """Still measuring levels (not settled yet)."""
        return not self._frozen

    @property
    def measured(self) -> dict[int, float]:
        """Runs/s measured per level so far."""
        return dict(self._best)

    @property
    def settled(self) -> int:
        """The level settled on; while still exploring, the one it would settle on now."""
        return self._choice() if self.exploring and self._best else self.limit

    @property
    def sustained(self) -> float | None:
        """Runs/s at the settled level since settling, once that is at least a window's worth
        (None while exploring: only a settled job counts, and it never unsettles)."""
        if self._sustain_start is None or self._sustain_runs < self.min_window:
            return None
        elapsed = self._sustain_end - self._sustain_start
        return self._sustain_runs / elapsed if elapsed >= self.min_seconds else None

    @property
    def rate(self) -> float | None:
        """Runs/s at the settled level: sustained since settling when the job ran long enough
        after it, else the window measured there (None if no whole window was)."""
        sustained = self.sustained
        return sustained if sustained is not None else self._best.get(self.settled)
