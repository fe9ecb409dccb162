"""What a history view asks for: which finished runs (selection, window, N) and the constants of the view."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from runops.engine.selection import (
    RunSelection,
)
from runops.errors import BadInput
from runops.timefmt import ensure_utc, format_duration

DEFAULT_LIMIT = 100
MAX_LIMIT = 100_000
NO_DEPLOYMENT = "(no deployment)"
SUCCESS_STATES = ("COMPLETED",)
FAILURE_STATES = ("FAILED", "CRASHED")

# The tidy table, one row per run; times are UTC, durations in seconds.
COLUMNS = (
    "run_id",
    "name",
    "flow",
    "deployment",
    "state",
    "state_type",
    "expected_start",
    "scheduled_start",
    "start",
    "end",
    "duration_s",
    "lateness_s",
    "rescheduled",
    "tags",
    "url",
)
TIME_COLUMNS = ("expected_start", "scheduled_start", "start", "end")
# Runs that started within this of their first time are not looked up for a later time: worker
# polling alone makes every run a few seconds late, and the lookup is one read per run.
RESCHEDULE_TOLERANCE = timedelta(minutes=1)
STATE_READS = 4  # concurrent state-history reads (one request each)
BUCKET_COLUMNS = ("bucket_start", "bucket_end", "state", "runs")
SUMMARY_COLUMNS = (
    "deployment",
    "runs",
    "completed",
    "failed",
    "success_rate",
    "median_duration_s",
    "p95_duration_s",
    "median_lateness_s",
    "p95_lateness_s",
)

# Bucket sizes a person reads easily; the smallest one giving at most TARGET_BUCKETS is used.
BUCKET_SIZES = tuple(
    timedelta(seconds=s)
    for s in (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400)
)
TARGET_BUCKETS = 90
SERVER_MAX_BUCKETS = 500  # /flow_runs/history silently stops after 500 intervals


def _names(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = values.split(",")
    return tuple(v.strip() for v in values if v and v.strip())


@dataclass(frozen=True)
class HistoryRequest:
    """Which finished runs to chart: the newest `limit` that match, newest end time first.

    `window` means "ended within this long before `ended_before` (or now)"; it is resolved when
    the history is loaded, so the same request can be cached and re-used.
    """

    limit: int = DEFAULT_LIMIT
    deployments: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    work_pools: tuple[str, ...] = ()
    window: timedelta | None = None
    ended_after: datetime | None = None
    ended_before: datetime | None = None
    include_failed: bool = False
    zone: str = "UTC"  # the time zone the selection's words name times in

    def __post_init__(self) -> None:
        limit = self.limit
        if isinstance(limit, bool) or not isinstance(limit, int):
            if isinstance(limit, float) and limit.is_integer():
                limit = int(limit)
            else:
                raise BadInput(f"N must be a whole number of runs, not {self.limit!r}.")
        if limit < 1:
            raise BadInput(f"N must be at least 1 (got {limit}).")
        if limit > MAX_LIMIT:
            raise BadInput(f"N can be at most {MAX_LIMIT:,} (got {limit:,}); narrow the filters instead.")
        object.__setattr__(self, "limit", limit)
        for name in ("deployments", "flows", "tags", "work_pools"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        if self.window is not None and self.window <= timedelta(0):
            raise BadInput(f"The time window must be longer than zero (got {format_duration(self.window)}).")
        if self.window is not None and self.ended_after is not None:
            raise BadInput("Give either a window (e.g. 7d) or a start time, not both.")
        for name in ("ended_after", "ended_before"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value))
        if self.ended_after and self.ended_before and self.ended_after >= self.ended_before:
            raise BadInput("The window's start must be before its end.")

    @property
    def state_types(self) -> tuple[str, ...]:
        return SUCCESS_STATES + FAILURE_STATES if self.include_failed else SUCCESS_STATES

    def time_range(self, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
        """(start, end) of the end-time window; end is None only when nothing bounds it."""
        end = self.ended_before
        if self.window is not None:
            end = end or ensure_utc(now or datetime.now(UTC))
            return end - self.window, end
        return self.ended_after, end

    def selection(self, now: datetime | None = None) -> RunSelection:
        start, end = self.time_range(now)
        return RunSelection(
            state_types=self.state_types,
            deployments=self.deployments,
            flows=self.flows,
            tags=self.tags,
            work_pools=self.work_pools,
            ended_after=start,
            ended_before=end,
            zone=self.zone,
        )
