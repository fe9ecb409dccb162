"""How many requests one job keeps in flight: a small additive-increase, halve-on-overload limit."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from runops.errors import BadInput

START = 4  # on every setup measured, 4 was the best fixed level or close to it
MAXIMUM = 8
WINDOW_S = 2.0  # a window shorter than this says little: one answer's time varies a lot

# what windows are measured with; tests swap in a virtual clock so a climb does not depend on load
clock: Callable[[], float] = time.monotonic


class ConcurrencyLimit:
    """The number of requests one job may have in flight. Each job makes its own; nothing is shared.

    - It starts at `start` (4), at most `maximum`.
    - A 429 or 503 answer halves it (never below 1) and ends the climb. One burst halves once:
      a push-back to a request sent before the last halving is part of the burst that caused
      it; only one sent after it halves again. `epoch` (the halvings so far) tells them apart.
    - Climb: runs answered per second are measured over windows of at least `window_s` seconds
      and one answer per request in flight. While a window is at least as fast as the one
      before (the first has none to compare with), the limit goes up by 1, up to `maximum`;
      the first slower window steps back to the level before and ends the climb.
    - `fixed_at(n)`: always n in flight, never climbs nor halves (the caller chose n).
    """

    def __init__(
        self, start: int = START, maximum: int = MAXIMUM, window_s: float = WINDOW_S, fixed: bool = False
    ) -> None:
        if start < 1 or maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.limit = self.start = self.peak = min(start, maximum)
        self.maximum, self.window_s, self.fixed = maximum, window_s, fixed
        self.climbing = not fixed and self.limit < maximum
        self.epoch = 0
        self._opened: float | None = None  # when the window being measured began
        self._answers = 0
        self._runs = 0
        self._last_rate: float | None = None  # runs/s of the window before, one level lower

    @classmethod
    def fixed_at(cls, limit: int) -> ConcurrencyLimit:
        return cls(start=limit, maximum=limit, fixed=True)

    def completed(self, runs: int = 1, now: float | None = None) -> None:
        """A request was answered with `runs` runs changed or checked."""
        now = clock() if now is None else now
        if not self.climbing:
            return
        if self._opened is None:  # the job's first answer opens the first window
            self._opened = now
            return
        self._answers += 1
        self._runs += runs
        elapsed = now - self._opened
        if elapsed < self.window_s or self._answers < self.limit:
            return
        self._judge(self._runs / elapsed)
        self._opened, self._answers, self._runs = now, 0, 0

    def _judge(self, rate: float) -> None:
        """After a window: up by one while not slower; else back one and stop."""
        if self._last_rate is not None and rate < self._last_rate:
            self.limit -= 1
            self.climbing = False
            return
        self._last_rate = rate
        self.limit += 1
        self.peak = max(self.peak, self.limit)
        self.climbing = self.limit < self.maximum

    def overloaded(self, epoch: int) -> None:
        """The server pushed back (429/503) a request sent in `epoch`."""
        if self.fixed or epoch != self.epoch:
            return
        self.limit = max(1, self.limit // 2)
        self.epoch += 1
        self.climbing = False


def fixed_concurrency(env: Mapping[str, str] | None = None) -> int | None:
    """RUNOPS_CONCURRENCY: a fixed number of requests in flight for every job (None: unset)."""
    raw = ((os.environ if env is None else env).get("RUNOPS_CONCURRENCY") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise BadInput(f"RUNOPS_CONCURRENCY must be a whole number of at least 1, not {raw!r}.")
    return int(raw)
