"""The home page's numbers: runs by state and the late backlog per deployment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.sorting import FlowRunSort

from runops.engine.selection import (
    ALL_STATE_NAMES,
    ResolvedSelection,
    RunSelection,
    build_filters,
    deployment_names_by_id,
    iter_runs,
    read_all,
    resolve,
)
from runops.errors import RunopsError
from runops.prefect_api.flow_runs import count_flow_runs


@dataclass(frozen=True)
class LateBacklog:
    deployment: str
    count: int
    oldest_scheduled: datetime | None
    newest_scheduled: datetime | None


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]
    late: list[LateBacklog]
    total: int
    read_at: datetime
    failed_24h: int = 0  # Failed or Crashed, ended in the last 24 h: what Retry failed offers
    stuck: int | None = None  # None: could not be told (the reason is in stuck_error)
    stuck_error: str = ""


async def state_counts(client: PrefectClient, states: tuple[str, ...] = ALL_STATE_NAMES) -> dict[str, int]:
    counts = {}
    for state in states:
        selection = RunSelection(states=(state,))
        counts[state] = await count_flow_runs(client, **build_filters(selection))
    return counts


async def late_backlog(client: PrefectClient) -> list[LateBacklog]:
    """Every Late run, grouped by deployment (all pages, not the first one)."""
    selection = RunSelection(states=("Late",))
    resolved = ResolvedSelection(selection, build_filters(selection))
    groups: dict[object, list[datetime]] = {}
    async for page in iter_runs(client, resolved, sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC):
        for run in page:
            when = run.next_scheduled_start_time or run.expected_start_time
            groups.setdefault(run.deployment_id, []).append(when)
    names = await deployment_names_by_id(client, [d for d in groups if d])
    rows = [
        LateBacklog(
            deployment=names.get(dep, "(no deployment)") if dep else "(no deployment)",
            count=len(times),
            oldest_scheduled=min((t for t in times if t), default=None),
            newest_scheduled=max((t for t in times if t), default=None),
        )
        for dep, times in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r.count, r.deployment))


async def stuck_count(client: PrefectClient) -> tuple[int | None, str]:
    """Runs the Stuck runs page would show with its defaults (None and why when it cannot tell)."""
    from runops.features.stuck import StuckRequest, find_stuck

    try:
        return len((await find_stuck(client, StuckRequest())).stuck), ""
    except RunopsError as exc:
        return None, str(exc)


async def load_overview(client: PrefectClient) -> Overview:
    from runops.features.retry import RetryRequest, count_matching

    counts = await state_counts(client)
    stuck, why = await stuck_count(client)
    return Overview(
        counts=counts,
        late=await late_backlog(client),
        total=await count_flow_runs(client),
        read_at=datetime.now(UTC),
        failed_24h=await count_matching(client, RetryRequest()),
        stuck=stuck,
        stuck_error=why,
    )


@dataclass(frozen=True)
class LateRun:
    run_id: UUID
    name: str
    deployment: str
    state: str
    scheduled: datetime | None
    late_by_s: float | None


async def list_late(
    client: PrefectClient, deployments: tuple[str, ...] = (), states: tuple[str, ...] = ("Late",)
) -> list[LateRun]:
    """Every run in `states` (all pages) of the named deployments, newest scheduled first."""
    resolved = await resolve(client, RunSelection(states=states or ("Late",), deployments=deployments))
    runs = await read_all(client, resolved, sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC)
    names = await deployment_names_by_id(client, {r.deployment_id for r in runs if r.deployment_id})
    now = datetime.now(UTC)
    rows = []
    for run in runs:
        when = run.next_scheduled_start_time or run.expected_start_time
        rows.append(
            LateRun(
                run_id=run.id,
                name=run.name,
                deployment=names.get(run.deployment_id, "(no deployment)")
                if run.deployment_id
                else "(no deployment)",
                state=run.state_name or (run.state.name if run.state else "?"),
                scheduled=when,
                late_by_s=(now - when).total_seconds() if when else None,
            )
        )
    return sorted(rows, key=lambda r: r.scheduled or now, reverse=True)
