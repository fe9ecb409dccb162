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
    """Hill-climbing on measured runs/s.

    One local SQLite server is fastest at 1 and gets *slower* with more in flight, while a
    scaled-out API gains up to ~8 (see DESIGN.md), so no fixed number is right everywhere.
    Start at `initial`; after each measuring window, double while throughput rises by more
    than `gain`, step back and settle when it falls; halve on overload (429/503/locked).
    A window counts completed requests (a bulk request answers for many runs); the rate is
    in runs/s.
    """

    initial: int = 1
    maximum: int = 8
    gain: float = 1.1
    min_window: int = 6
    limit: int = field(init=False)
    peak: int = field(init=False)
    _window_start: float = field(init=False, default=0.0)
    _window_count: int = field(init=False, default=0)
    _window_runs: int = field(init=False, default=0)
    _best: dict[int, float] = field(init=False, default_factory=dict)
    _frozen: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.limit = max(1, min(self.initial, self.maximum))
        self.peak = self.limit
        self._window_start = time.monotonic()

    def _window(self) -> int:
        return max(self.min_window, 3 * self.limit)

    def completed(self, now: float | None = None, runs: int = 1) -> None:
        now = time.monotonic() if now is None else now
        self._window_count += 1
        self._window_runs += runs
        if self._window_count < self._window():
            return
        elapsed = max(now - self._window_start, 1e-6)
        rate = self._window_runs / elapsed
        self._best[self.limit] = max(rate, self._best.get(self.limit, 0.0))
        self._window_start, self._window_count, self._window_runs = now, 0, 0
        if self._frozen:
            return
        lower = self.limit // 2
        if lower >= 1 and lower in self._best and rate < self._best[lower] * 0.95:
            # more in flight made it slower: go back and stay there
            self.limit = lower
            self._frozen = True
            return
        if self.limit < self.maximum and (lower < 1 or rate > self._best.get(lower, 0.0) * self.gain):
            self.limit = min(self.maximum, self.limit * 2)
            self.peak = max(self.peak, self.limit)
        elif self.limit > 1:
            self._frozen = True

    def overloaded(self) -> None:
        """The server pushed back: halve at once and stop climbing."""
        self.limit = max(1, self.limit // 2)
        self._frozen = True
        self._window_start, self._window_count, self._window_runs = time.monotonic(), 0, 0

    @property
    def settled(self) -> int:
        return self.limit
