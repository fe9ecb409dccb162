"""Which runs: a RunSelection in people's terms becomes Prefect filters, counts and full listings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterEndTime,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterId,
    FlowRunFilterNextScheduledStartTime,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.sorting import FlowRunSort

from runops.engine.names import unknown_name
from runops.errors import BadInput
from runops.prefect_api.deployments import read_deployments, read_deployments_by_id
from runops.prefect_api.flow_runs import count_flow_runs, read_flow_runs
from runops.prefect_api.flows import read_flow_names, read_flow_names_by_id
from runops.prefect_api.paging import PAGE_SIZE
from runops.prefect_api.workers import read_work_pool_names
from runops.timefmt import in_zone

ACTIVE_STATES = ("Pending", "Running", "Scheduled", "Late")
ALL_STATE_NAMES = (
    "Scheduled",
    "Late",
    "AwaitingRetry",
    "Pending",
    "Running",
    "Retrying",
    "Paused",
    "Suspended",
    "Cancelling",
    "Completed",
    "Cached",
    "Failed",
    "Crashed",
    "Cancelled",
)


@dataclass(frozen=True)
class RunSelection:
    """Runs chosen the way a team lead says it; empty fields mean "any"."""

    states: tuple[str, ...] = ()
    state_types: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    work_pools: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    expected_after: datetime | None = None  # the time the run was first due (kept by reschedules)
    expected_before: datetime | None = None
    # the time the run is due now: moved by in-place reschedules, as a person sees it
    scheduled_after: datetime | None = None
    scheduled_before: datetime | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    ended_after: datetime | None = None
    ended_before: datetime | None = None
    run_ids: tuple[UUID, ...] = ()
    parent_run_ids: tuple[UUID, ...] = ()
    zone: str = field(default="UTC", compare=False)  # the time zone the words name times in

    def describe(self) -> str:
        """The selection in words, for dialogs, reports and the audit record."""
        parts: list[str] = []
        if self.states or self.state_types:
            names = [*self.states, *(t.title() for t in self.state_types)]
            parts.append("state " + " or ".join(names))
        else:
            parts.append("any state")
        for label, values in (
            ("deployment", self.deployments),
            ("flow", self.flows),
            ("work pool", self.work_pools),
        ):
            if values:
                parts.append(f"{label} " + " or ".join(values))
        if self.tags:
            parts.append("tagged " + " and ".join(self.tags))
        for label, after, before in (
            ("first due", self.expected_after, self.expected_before),
            ("scheduled", self.scheduled_after, self.scheduled_before),
            ("started", self.started_after, self.started_before),
            ("ended", self.ended_after, self.ended_before),
        ):
            if after and before:
                parts.append(f"{label} between {in_zone(after, self.zone)} and {in_zone(before, self.zone)}")
            elif after:
                parts.append(f"{label} after {in_zone(after, self.zone)}")
            elif before:
                parts.append(f"{label} before {in_zone(before, self.zone)}")
        if self.run_ids:
            parts.append(f"{len(self.run_ids)} chosen run(s)")
        if self.parent_run_ids:
            parts.append(f"sub-flow runs of {len(self.parent_run_ids)} run(s)")
        return ", ".join(parts)


@dataclass(frozen=True)
class ResolvedSelection:
    """A selection whose names were checked against the server, as filter keyword arguments."""

    selection: RunSelection
    filters: dict[str, Any] = field(hash=False)
    deployments: tuple[DeploymentResponse, ...] = ()


def deployment_full_name(deployment: DeploymentResponse, flow_names: dict[UUID, str]) -> str:
    return f"{flow_names.get(deployment.flow_id, '?')}/{deployment.name}"


async def list_deployments(client: PrefectClient) -> list[tuple[str, DeploymentResponse]]:
    """All deployments as ("flow/deployment", deployment), sorted by name."""
    deployments = await read_deployments(client)
    flow_names = await read_flow_names_by_id(client, {d.flow_id for d in deployments})
    named = [(deployment_full_name(d, flow_names), d) for d in deployments]
    return sorted(named, key=lambda pair: pair[0])


@dataclass(frozen=True)
class FilterOptions:
    """Names the pages offer in their filters, read from the server."""

    deployments: tuple[str, ...]
    flows: tuple[str, ...]
    work_pools: tuple[str, ...]


async def filter_options(client: PrefectClient) -> FilterOptions:
    """Every deployment ("flow/deployment"), flow and work pool name, for the pages' pickers."""
    deployments = tuple(name for name, _ in await list_deployments(client))
    flows = await read_flow_names(client)
    pools = await read_work_pool_names(client)
    return FilterOptions(deployments, tuple(sorted(flows)), tuple(sorted(pools)))


async def deployment_names_by_id(client: PrefectClient, deployment_ids: Iterable[UUID]) -> dict[UUID, str]:
    """ "flow/deployment" names of deployments, in batches."""
    found = await read_deployments_by_id(client, deployment_ids)
    flow_names = await read_flow_names_by_id(client, {d.flow_id for d in found})
    return {d.id: deployment_full_name(d, flow_names) for d in found}


async def resolve_deployments(client: PrefectClient, names: Sequence[str]) -> list[DeploymentResponse]:
    """Deployments by "flow/deployment" or by a bare name that is unique; unknown names fail."""
    if not names:
        return []
    named = await list_deployments(client)
    by_full = {full: d for full, d in named}
    by_short: dict[str, list[DeploymentResponse]] = {}
    for _, d in named:
        by_short.setdefault(d.name, []).append(d)
    resolved: list[DeploymentResponse] = []
    for name in names:
        name = name.strip()
        if name in by_full:
            resolved.append(by_full[name])
        elif len(by_short.get(name, [])) == 1:
            resolved.append(by_short[name][0])
        elif name in by_short:
            options = sorted(full for full, d in named if d.name == name)
            raise BadInput(f"Deployment name {name!r} is ambiguous; use one of {', '.join(options)}.")
        else:
            raise unknown_name("deployment", name, list(by_full))
    return resolved


async def _check_names(client: PrefectClient, kind: str, names: Sequence[str]) -> None:
    if not names:
        return
    read = read_flow_names if kind == "flow" else read_work_pool_names
    found = set(await read(client, names=list(names)))
    for name in names:
        if name not in found:
            raise unknown_name(kind.replace("_", " "), name, await read(client, limit=PAGE_SIZE))


def _validate_states(selection: RunSelection) -> None:
    known = {s.lower(): s for s in ALL_STATE_NAMES}
    for name in selection.states:
        if name.lower() not in known:
            raise BadInput(f"Unknown state {name!r}; use one of {', '.join(ALL_STATE_NAMES)}.")
    for state_type in selection.state_types:
        if state_type.upper() not in StateType.__members__:
            raise BadInput(f"Unknown state type {state_type!r}.")


async def resolve(client: PrefectClient, selection: RunSelection) -> ResolvedSelection:
    """Check every name against the server and build the filters; unknown names are BadInput."""
    _validate_states(selection)
    deployments = await resolve_deployments(client, selection.deployments)
    await _check_names(client, "flow", selection.flows)
    await _check_names(client, "work_pool", selection.work_pools)
    return ResolvedSelection(
        selection, build_filters(selection, [d.id for d in deployments]), tuple(deployments)
    )


def build_filters(selection: RunSelection, deployment_ids: Sequence[UUID] = ()) -> dict[str, Any]:
    """Keyword arguments for `read_flow_runs` / `count_flow_runs`."""
    run_filter: dict[str, Any] = {}
    if selection.states or selection.state_types:
        known = {s.lower(): s for s in ALL_STATE_NAMES}
        state: dict[str, Any] = {}
        if selection.states:
            state["name"] = FlowRunFilterStateName(any_=[known[s.lower()] for s in selection.states])
        if selection.state_types:
            state["type"] = FlowRunFilterStateType(any_=[StateType[t.upper()] for t in selection.state_types])
        if len(state) == 2:
            # names OR types: "Late" or any COMPLETED-type state
            run_filter["state"] = FlowRunFilterState(operator="or_", **state)
        else:
            run_filter["state"] = FlowRunFilterState(**state)
    if selection.deployments:
        run_filter["deployment_id"] = FlowRunFilterDeploymentId(any_=list(deployment_ids))
    if selection.tags:
        run_filter["tags"] = FlowRunFilterTags(all_=list(selection.tags))
    if selection.expected_after or selection.expected_before:
        run_filter["expected_start_time"] = FlowRunFilterExpectedStartTime(
            after_=selection.expected_after, before_=selection.expected_before
        )
    if selection.scheduled_after or selection.scheduled_before:
        run_filter["next_scheduled_start_time"] = FlowRunFilterNextScheduledStartTime(
            after_=selection.scheduled_after, before_=selection.scheduled_before
        )
    if selection.started_after or selection.started_before:
        run_filter["start_time"] = FlowRunFilterStartTime(
            after_=selection.started_after, before_=selection.started_before
        )
    if selection.ended_after or selection.ended_before:
        run_filter["end_time"] = FlowRunFilterEndTime(
            after_=selection.ended_after, before_=selection.ended_before
        )
    if selection.run_ids:
        run_filter["id"] = FlowRunFilterId(any_=list(selection.run_ids))
    if selection.parent_run_ids:
        run_filter["parent_flow_run_id"] = FlowRunFilterParentFlowRunId(any_=list(selection.parent_run_ids))
    filters: dict[str, Any] = {"flow_run_filter": FlowRunFilter(**run_filter) if run_filter else None}
    if selection.flows:
        filters["flow_filter"] = FlowFilter(name=FlowFilterName(any_=list(selection.flows)))
    if selection.work_pools:
        filters["work_pool_filter"] = WorkPoolFilter(name=WorkPoolFilterName(any_=list(selection.work_pools)))
    return filters


async def count_runs(client: PrefectClient, resolved: ResolvedSelection) -> int:
    return await count_flow_runs(client, **resolved.filters)


async def iter_runs(
    client: PrefectClient,
    resolved: ResolvedSelection,
    sort: FlowRunSort = FlowRunSort.ID_DESC,
    limit: int | None = None,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[list[FlowRun]]:
    """Every matching run, a page at a time (not one page only), up to `limit` runs."""
    offset = 0
    while limit is None or offset < limit:
        size = page_size if limit is None else min(page_size, limit - offset)
        page = await read_flow_runs(client, **resolved.filters, sort=sort, limit=size, offset=offset)
        if page:
            yield page
        if len(page) < size:
            return
        offset += len(page)


async def read_all(
    client: PrefectClient,
    resolved: ResolvedSelection,
    sort: FlowRunSort = FlowRunSort.ID_DESC,
    limit: int | None = None,
) -> list[FlowRun]:
    runs: list[FlowRun] = []
    async for page in iter_runs(client, resolved, sort=sort, limit=limit):
        runs.extend(page)
    return runs


async def read_by_id(client: PrefectClient, ids: list[UUID]) -> dict[UUID, FlowRun]:
    """These runs as they are now, in one read (missing: deleted)."""
    if not ids:
        return {}
    runs = await read_flow_runs(
        client, flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
    )
    return {run.id: run for run in runs}
