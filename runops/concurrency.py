"""How many state changes to send at once: fixed, or adaptive by measured throughput."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class FixedConcurrency:
    """Always the same number in flight (benchmarks sweep these)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("concurrency must be at least 1")
        self.limit = limit
        self.peak = limit

    def completed(self, now: float | None = None, runs: int = 1) -> None:
        pass

    def overloaded(self) -> None:
        pass

    @property
    def settled(self) -> int:
        return self.limit


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
    is the best so far, try the one below it once; then settle on the best level measured.
    Halve and settle at once on overload (429/503/locked).
    """

    initial: int = 2
    maximum: int = 8
    gain: float = 1.0
    min_window: int = 3  # answers per window, at least, and `per_limit` per request in flight
    per_limit: int = 1
    min_seconds: float = 2.0
    limit: int = field(init=False)
    peak: int = field(init=False)
    _best: dict[int, float] = field(init=False, default_factory=dict)
    _frozen: bool = field(init=False, default=False)
    _skip: int = field(init=False, default=0)
    _window_start: float | None = field(init=False, default=None)
    _window_count: int = field(init=False, default=0)
    _window_runs: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.limit = max(1, min(self.initial, self.maximum))
        self.peak = self.limit

    def _window(self) -> int:
        return max(self.min_window, self.per_limit * self.limit)

    def completed(self, now: float | None = None, runs: int = 1) -> None:
        if self._frozen:
            return
        now = time.monotonic() if now is None else now
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
        self._decide()

    def _decide(self) -> None:
        here, rate = self.limit, self._best[self.limit]
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
        self.limit, self._frozen = best, True

    def _move(self, level: int) -> None:
        self._skip = self.limit  # answers to requests sent at the old level are not this level's
        self.limit = level
        self.peak = max(self.peak, level)
        self._window_start, self._window_count, self._window_runs = None, 0, 0

    def overloaded(self) -> None:
        """The server pushed back: halve at once and stop climbing."""
        self.limit = max(1, self.limit // 2)
        self._frozen = True

    @property
    def settled(self) -> int:
        return self.limit
