"""Runs per time bucket and state: counted from a frame, or by the server without reading the runs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterEndTime,
)

from runops.engine.selection import (
    ResolvedSelection,
    resolve,
)
from runops.errors import BadInput
from runops.features.history.request import (
    BUCKET_COLUMNS,
    BUCKET_SIZES,
    SERVER_MAX_BUCKETS,
    TARGET_BUCKETS,
    HistoryRequest,
)
from runops.prefect_api import flow_runs
from runops.timefmt import ensure_utc, format_duration


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
