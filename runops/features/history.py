"""History: the last N finished runs as a tidy DataFrame, summaries, and server-side bucketed counts."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pandas as pd
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterId,
    FlowRunFilter,
    FlowRunFilterEndTime,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.sorting import FlowRunSort

from runops.engine.selection import (
    PAGE_SIZE,
    ResolvedSelection,
    RunSelection,
    deployment_full_name,
    read_all,
    resolve,
)
from runops.errors import BadInput
from runops.prefect_api import flow_runs
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
        )


@dataclass(frozen=True)
class Summary:
    """Numbers for one group of runs (all of them, or one deployment)."""

    runs: int
    completed: int
    failed: int  # Failed and Crashed
    success_rate: float | None  # None when Failed/Crashed runs were not read
    median_duration_s: float | None
    p95_duration_s: float | None
    median_lateness_s: float | None
    p95_lateness_s: float | None


@dataclass(frozen=True, eq=False)
class History:
    """Everything the History page shows, as plain data (picklable, so a page can cache it)."""

    request: HistoryRequest
    runs: pd.DataFrame
    overall: Summary
    per_deployment: pd.DataFrame
    matching: int  # every run matching the filters, which may be more than `limit`
    buckets: pd.DataFrame
    bucket: timedelta
    buckets_from_server: bool
    window_start: datetime | None
    window_end: datetime | None
    description: str
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def truncated(self) -> bool:
        """More runs match than were read: the table and run charts show the newest `limit`."""
        return self.matching > len(self.runs)

    @property
    def empty(self) -> bool:
        return self.runs.empty


# -- reading --------------------------------------------------------------------------------------


def finished_filters(resolved: ResolvedSelection) -> dict[str, Any]:
    """The selection's filters plus "has an end time".

    Sorting by end time puts runs without one first on PostgreSQL (NULLs sort high); a finished
    run always has one, so this only guards against odd rows.
    """
    filters = dict(resolved.filters)
    run_filter = filters.get("flow_run_filter") or FlowRunFilter()
    end = (run_filter.end_time or FlowRunFilterEndTime()).model_copy(update={"is_null_": False})
    filters["flow_run_filter"] = run_filter.model_copy(update={"end_time": end})
    return filters


async def read_runs(client: PrefectClient, resolved: ResolvedSelection, limit: int) -> list[FlowRun]:
    """The newest `limit` runs by end time, through every page; duplicates from ties dropped."""
    finished = ResolvedSelection(resolved.selection, finished_filters(resolved), resolved.deployments)
    runs = await read_all(client, finished, sort=FlowRunSort.END_TIME_DESC, limit=limit)
    # END_TIME_DESC has no tie-breaker: offset pages over equal end times may repeat a run.
    seen: set[UUID] = set()
    unique: list[FlowRun] = []
    for run in runs:
        if run.id not in seen:
            seen.add(run.id)
            unique.append(run)
    return unique


async def names_for(
    client: PrefectClient, runs: Sequence[FlowRun]
) -> tuple[dict[UUID, str], dict[UUID, str]]:
    """(flow names, "flow/deployment" names) by id: one call per kind per 200 ids, never per run."""
    deployment_ids = sorted({r.deployment_id for r in runs if r.deployment_id}, key=str)
    deployments: list[DeploymentResponse] = []
    for start in range(0, len(deployment_ids), PAGE_SIZE):
        chunk = deployment_ids[start : start + PAGE_SIZE]
        deployments.extend(
            await client.read_deployments(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=chunk)), limit=PAGE_SIZE
            )
        )
    flow_ids = sorted({r.flow_id for r in runs} | {d.flow_id for d in deployments}, key=str)
    flows: dict[UUID, str] = {}
    for start in range(0, len(flow_ids), PAGE_SIZE):
        chunk = flow_ids[start : start + PAGE_SIZE]
        found = await client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=chunk)), limit=PAGE_SIZE)
        flows.update({f.id: f.name for f in found})
    return flows, {d.id: deployment_full_name(d, flows) for d in deployments}


def last_scheduled_time(states: Sequence[State]) -> datetime | None:
    """The time a run was last scheduled for before it started: the last scheduled-type state
    (Scheduled, Late, a reschedule) before its first Pending/Running one, in the server's order."""
    found = None
    for state in states:
        if state.type in (StateType.PENDING, StateType.RUNNING):
            break
        if state.type == StateType.SCHEDULED and state.state_details.scheduled_time is not None:
            found = state.state_details.scheduled_time
    return found


async def rescheduled_times(client: PrefectClient, runs: Sequence[FlowRun]) -> dict[UUID, datetime]:
    """The new time of each run moved in place before it started (only runs that were moved).

    Prefect keeps `expected_start_time` at the first time and clears `next_scheduled_start_time`
    when the run leaves Scheduled, so a finished run's last scheduled time is only in its state
    history. Only runs that started more than RESCHEDULE_TOLERANCE from their first time are
    read, a few at a time.
    """
    candidates = [
        run
        for run in runs
        if run.start_time is not None
        and run.expected_start_time is not None
        and abs(run.start_time - run.expected_start_time) > RESCHEDULE_TOLERANCE
    ]
    gate = asyncio.Semaphore(STATE_READS)

    async def read(run: FlowRun) -> tuple[UUID, datetime | None]:
        async with gate:
            return run.id, last_scheduled_time(await client.read_flow_run_states(run.id))

    first = {run.id: run.expected_start_time for run in candidates}
    found: dict[UUID, datetime] = {}
    for run_id, when in await asyncio.gather(*(read(run) for run in candidates)):
        if when is not None and when != first[run_id]:
            found[run_id] = when
    return found


def runs_frame(
    runs: Sequence[FlowRun],
    flow_names: dict[UUID, str],
    deployment_names: dict[UUID, str],
    run_url: Callable[[UUID], str | None] | None = None,
    moved: Mapping[UUID, datetime] | None = None,
) -> pd.DataFrame:
    """The tidy table: one row per run, times in UTC, duration and lateness in seconds.

    duration = end − start (wall clock, what people see); lateness = start − the time the run
    was last scheduled for (negative when a run started early). `moved`: the new time of runs
    rescheduled in place (`rescheduled_times`); other runs were due at their expected start.
    """
    moved = moved or {}
    data: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for run in runs:
        data["run_id"].append(str(run.id))
        data["name"].append(run.name)
        data["flow"].append(flow_names.get(run.flow_id, "?"))
        data["deployment"].append(
            deployment_names.get(run.deployment_id, "?") if run.deployment_id else NO_DEPLOYMENT
        )
        data["state"].append(run.state_name or (run.state.name if run.state else "?"))
        data["state_type"].append(run.state_type.value if run.state_type else None)
        data["expected_start"].append(run.expected_start_time)
        data["scheduled_start"].append(moved.get(run.id, run.expected_start_time))
        data["rescheduled"].append(run.id in moved)
        data["start"].append(run.start_time)
        data["end"].append(run.end_time)
        data["tags"].append(", ".join(sorted(run.tags)))
        data["url"].append(run_url(run.id) if run_url else None)
    frame = pd.DataFrame(
        {name: values for name, values in data.items() if name not in ("duration_s", "lateness_s")}
    )
    for column in TIME_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    frame["duration_s"] = (frame["end"] - frame["start"]).dt.total_seconds()
    frame["lateness_s"] = (frame["start"] - frame["scheduled_start"]).dt.total_seconds()
    frame["rescheduled"] = frame["rescheduled"].astype(bool)
    return frame[list(COLUMNS)]


def empty_frame() -> pd.DataFrame:
    return runs_frame([], {}, {})


# -- summaries ------------------------------------------------------------------------------------


def _stat(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return None if values.empty else float(values.quantile(q))


def summarize(frame: pd.DataFrame, include_failed: bool = True) -> Summary:
    """Count, success rate, median/p95 duration (of completed runs) and lateness (of all runs).

    Durations come from completed runs only: a run failing after 2 s is not "fast". Lateness is
    about scheduling, so every run counts. The success rate needs Failed/Crashed runs to be read;
    without them it is None rather than a meaningless 100 %.
    """
    completed_mask = frame["state_type"] == "COMPLETED"
    completed = int(completed_mask.sum())
    failed = int(frame["state_type"].isin(FAILURE_STATES).sum())
    rate = completed / (completed + failed) if include_failed and (completed + failed) else None
    durations = frame.loc[completed_mask, "duration_s"]
    return Summary(
        runs=len(frame),
        completed=completed,
        failed=failed,
        success_rate=rate,
        median_duration_s=_stat(durations, 0.5),
        p95_duration_s=_stat(durations, 0.95),
        median_lateness_s=_stat(frame["lateness_s"], 0.5),
        p95_lateness_s=_stat(frame["lateness_s"], 0.95),
    )


def summarize_by_deployment(frame: pd.DataFrame, include_failed: bool = True) -> pd.DataFrame:
    """One row per deployment (most runs first) with the same numbers as `summarize`."""
    rows = []
    for deployment, group in frame.groupby("deployment", sort=False):
        summary = summarize(group, include_failed)
        rows.append({"deployment": deployment, **summary.__dict__})
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return table.sort_values(["runs", "deployment"], ascending=[False, True], ignore_index=True)


# -- buckets --------------------------------------------------------------------------------------


def bucket_size(span: timedelta, target: int = TARGET_BUCKETS) -> timedelta:
    """The bucket that follows the window: the smallest readable size giving ≤ `target` buckets."""
    for size in BUCKET_SIZES:
        if span <= size * target:
            return size
    # beyond the table (years): whole days, still within the server's interval cap
    days = math.ceil(span / timedelta(days=1) / SERVER_MAX_BUCKETS)
    return max(BUCKET_SIZES[-1], timedelta(days=days))


def floor_time(value: datetime, size: timedelta) -> datetime:
    """Align bucket edges to round UTC times (a whole hour, midnight, ...)."""
    epoch = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday, so weekly buckets start on Mondays
    value = ensure_utc(value)
    return epoch + ((value - epoch) // size) * size


def empty_buckets() -> pd.DataFrame:
    frame = pd.DataFrame({name: [] for name in BUCKET_COLUMNS})
    frame["bucket_start"] = pd.to_datetime(frame["bucket_start"], utc=True)
    frame["bucket_end"] = pd.to_datetime(frame["bucket_end"], utc=True)
    frame["runs"] = frame["runs"].astype("int64")
    return frame


def bucket_counts(frame: pd.DataFrame, start: datetime, size: timedelta) -> pd.DataFrame:
    """Runs per (end-time bucket, state), from runs already read; empty buckets are left out."""
    if frame.empty:
        return empty_buckets()
    origin = pd.Timestamp(floor_time(start, size))
    step = pd.Timedelta(size)
    index = ((frame["end"] - origin) // step).astype("int64")
    counts = (
        frame.assign(bucket=index).groupby(["bucket", "state"], sort=True).size().reset_index(name="runs")
    )
    counts["bucket_start"] = origin + counts["bucket"] * step
    counts["bucket_end"] = counts["bucket_start"] + step
    return counts[list(BUCKET_COLUMNS)].astype({"runs": "int64"})


def history_body(filters: dict[str, Any], start: datetime, end: datetime, size: timedelta) -> dict[str, Any]:
    """The body of POST /flow_runs/history (see prefect/server/api/flow_runs.py)."""
    body: dict[str, Any] = {
        "history_start": ensure_utc(start).isoformat(),
        "history_end": ensure_utc(end).isoformat(),
        "history_interval_seconds": size.total_seconds(),
    }
    for key, name in (
        ("flow_run_filter", "flow_runs"),
        ("flow_filter", "flows"),
        ("work_pool_filter", "work_pools"),
    ):
        if filters.get(key) is not None:
            body[name] = filters[key].model_dump(mode="json", exclude_unset=True)
    return body


async def server_bucket_counts(
    client: PrefectClient, filters: dict[str, Any], start: datetime, end: datetime, size: timedelta
) -> pd.DataFrame:
    """Runs per (bucket, state) counted by the server, without reading the runs.

    Prefect's aggregation places a run by its *expected start time*, not its end time; the run
    filter (including the end-time window) still decides which runs count.
    """
    origin = floor_time(start, size)
    if (end - origin) / size > SERVER_MAX_BUCKETS:
        raise BadInput(
            f"{format_duration(end - origin)} in {format_duration(size)} buckets is more than the "
            f"server's {SERVER_MAX_BUCKETS} intervals; choose larger buckets."
        )
    rows = []
    for interval in await flow_runs.read_flow_run_history(client, history_body(filters, origin, end, size)):
        for state in interval["states"]:
            if state["count_runs"]:
                rows.append(
                    {
                        "bucket_start": interval["interval_start"],
                        "bucket_end": interval["interval_end"],
                        "state": state["state_name"],
                        "runs": int(state["count_runs"]),
                    }
                )
    if not rows:
        return empty_buckets()
    frame = pd.DataFrame(rows, columns=list(BUCKET_COLUMNS))
    frame["bucket_start"] = pd.to_datetime(frame["bucket_start"], utc=True, format="ISO8601")
    frame["bucket_end"] = pd.to_datetime(frame["bucket_end"], utc=True, format="ISO8601")
    return frame.sort_values(["bucket_start", "state"], ignore_index=True)


async def count_buckets(
    client: PrefectClient, request: HistoryRequest, size: timedelta | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """Server-side counts per bucket for a request with a window (the large-window path alone)."""
    start, end = request.time_range(now)
    if start is None:
        raise BadInput("Counting per time bucket needs a window (e.g. the last 30 days).")
    end = end or ensure_utc(now or datetime.now(UTC))
    resolved = await resolve(client, request.selection(now))
    return await server_bucket_counts(
        client, finished_filters(resolved), start, end, size or bucket_size(end - start)
    )


# -- the page's one call --------------------------------------------------------------------------


async def load_history(
    client: PrefectClient,
    request: HistoryRequest,
    run_url: Callable[[UUID], str | None] | None = None,
    now: datetime | None = None,
) -> History:
    """Read the newest N finished runs, tidy them, summarise them and count them per bucket.

    When more runs match the window than N, the per-bucket counts come from the server's
    aggregation so that they cover the whole window without reading every run.
    """
    now = ensure_utc(now or datetime.now(UTC))
    selection = request.selection(now)
    resolved = await resolve(client, selection)
    matching = await client.count_flow_runs(**finished_filters(resolved))
    runs = await read_runs(client, resolved, request.limit)
    flow_names, deployment_names = await names_for(client, runs)
    moved = await rescheduled_times(client, runs)
    frame = runs_frame(runs, flow_names, deployment_names, run_url, moved)

    start, end = request.time_range(now)
    from_server = False
    if start is not None:
        end = end or now
        size = bucket_size(end - start)
        if matching > len(frame):
            buckets = await server_bucket_counts(client, finished_filters(resolved), start, end, size)
            from_server = True
        else:
            buckets = bucket_counts(frame, start, size)
    elif not frame.empty:
        # no window: the span of the runs read
        start, end = frame["end"].min().to_pydatetime(), frame["end"].max().to_pydatetime()
        size = bucket_size(max(end - start, timedelta(minutes=1)))
        buckets = bucket_counts(frame, start, size)
    else:
        size, buckets = BUCKET_SIZES[0], empty_buckets()

    return History(
        request=request,
        runs=frame,
        overall=summarize(frame, request.include_failed),
        per_deployment=summarize_by_deployment(frame, request.include_failed),
        matching=matching,
        buckets=buckets,
        bucket=size,
        buckets_from_server=from_server,
        window_start=start,
        window_end=end,
        description=selection.describe(),
        read_at=now,
    )


def to_csv(frame: pd.DataFrame) -> bytes:
    """The table as CSV: ISO times in UTC, seconds as numbers."""
    out = frame.copy()
    for column in TIME_COLUMNS:
        out[column] = out[column].map(lambda t: t.isoformat() if pd.notna(t) else "")
    return out.to_csv(index=False).encode("utf-8")
