"""Load a history: the last N finished runs, their names and last scheduled times, the bucketed counts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.client.schemas.sorting import FlowRunSort

from runops.engine.selection import (
    ResolvedSelection,
    deployment_full_name,
    read_all,
    resolve,
)
from runops.features.history.buckets import (
    bucket_counts,
    bucket_size,
    empty_buckets,
    finished_filters,
    server_bucket_counts,
)
from runops.features.history.frame import (
    History,
    runs_frame,
    summarize,
    summarize_by_deployment,
)
from runops.features.history.request import (
    BUCKET_SIZES,
    RESCHEDULE_TOLERANCE,
    STATE_READS,
    HistoryRequest,
)
from runops.prefect_api.deployments import read_deployments_by_id
from runops.prefect_api.flow_runs import count_flow_runs, read_flow_run_states
from runops.prefect_api.flows import read_flow_names_by_id
from runops.timefmt import ensure_utc


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
    deployments = await read_deployments_by_id(client, {r.deployment_id for r in runs if r.deployment_id})
    flows = await read_flow_names_by_id(client, {r.flow_id for r in runs} | {d.flow_id for d in deployments})
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
            return run.id, last_scheduled_time(await read_flow_run_states(client, run.id))

    first = {run.id: run.expected_start_time for run in candidates}
    found: dict[UUID, datetime] = {}
    for run_id, when in await asyncio.gather(*(read(run) for run in candidates)):
        if when is not None and when != first[run_id]:
            found[run_id] = when
    return found


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
    matching = await count_flow_runs(client, **finished_filters(resolved))
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
