"""The frozen cancel plan: each matching run (and its subflows) with the action its state calls for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, StateType

from runops.engine.plan import SKIP, Plan, PlannedRun
from runops.engine.selection import (
    ResolvedSelection,
    RunSelection,
    build_filters,
    count_runs,
    deployment_names_by_id,
    iter_runs,
    resolve,
)
from runops.errors import BadInput
from runops.features.cancel.request import (
    ACTIVE_TYPES,
    FORCE_WARNING,
    MAX_SUBFLOW_DEPTH,
    PLAN_ACTION,
    POLICY,
    TERMINAL_TYPES,
    CancelAction,
    CancelOptions,
    CancelRequest,
    with_default_states,
)
from runops.prefect_api.flows import read_flow_names_by_id
from runops.prefect_api.paging import chunks


def action_for(run: FlowRun, force_stuck: bool = False) -> tuple[str, str, tuple[str, ...]]:
    """(action, note, warnings) for one run, from its current state."""
    state = run.state
    if state is None:
        return SKIP, "has no state", ()
    if state.type in TERMINAL_TYPES:
        return SKIP, f"already finished ({state.name})", ()
    if state.type == StateType.SCHEDULED:
        # AwaitingRetry may still hold infrastructure; the server then keeps it Cancelling
        if run.infrastructure_pid and state.name != "Resuming":
            return CancelAction.MARK_CANCELLING, "has infrastructure: its worker stops it", ()
        return CancelAction.CANCEL, "not started: becomes Cancelled", ()
    if state.type == StateType.PAUSED:
        if state.state_details.pause_reschedule:
            return CancelAction.CANCEL, "suspended, no process: becomes Cancelled", ()
        return CancelAction.MARK_CANCELLING, "paused in its process: its worker stops it", ()
    if state.type == StateType.CANCELLING:
        if force_stuck:
            return CancelAction.FORCE_CANCEL, "stuck in Cancelling: marked Cancelled", (FORCE_WARNING,)
        return SKIP, "already cancelling (choose force to mark stuck runs Cancelled)", ()
    # PENDING, RUNNING (also Retrying)
    return CancelAction.MARK_CANCELLING, "has a process: Cancelling until its worker stops it", ()


@dataclass(frozen=True)
class _Row:
    """A run reduced to what the plan needs, so 10,000 FlowRun objects are never held at once."""

    run_id: UUID
    name: str
    deployment_id: UUID | None
    flow_id: UUID
    state: str
    state_type: str
    scheduled_time: datetime | None
    action: str
    note: str
    warnings: tuple[str, ...]


def _row(run: FlowRun, force_stuck: bool, note_prefix: str = "") -> _Row:
    action, note, warnings = action_for(run, force_stuck)
    return _Row(
        run_id=run.id,
        name=run.name,
        deployment_id=run.deployment_id,
        flow_id=run.flow_id,
        state=run.state.name if run.state else "—",
        state_type=run.state.type.value if run.state else "",
        scheduled_time=run.next_scheduled_start_time or run.expected_start_time,
        action=action,
        note=f"{note_prefix}{note}",
        warnings=warnings,
    )


def _too_many(count: int, limit: int) -> BadInput:
    return BadInput(
        f"{count:,} runs match, more than the {limit:,} one job may cancel. Narrow the selection "
        "(deployment, flow, tag, time window) and cancel in parts."
    )


async def _subflow_rows(
    client: PrefectClient, parents: Sequence[UUID], seen: set[UUID], request: CancelRequest, room: int
) -> list[_Row]:
    """Not-finished sub-flow runs of `parents`, level by level (bounded depth and count)."""
    found: list[_Row] = []
    frontier = list(parents)
    for _ in range(MAX_SUBFLOW_DEPTH):
        children: list[UUID] = []
        for chunk in chunks(frontier):
            selection = RunSelection(state_types=ACTIVE_TYPES, parent_run_ids=tuple(chunk))
            resolved = ResolvedSelection(selection, build_filters(selection))
            async for page in iter_runs(client, resolved):
                for run in page:
                    if run.id in seen:
                        continue
                    seen.add(run.id)
                    found.append(_row(run, request.force_stuck, "sub-flow run; "))
                    children.append(run.id)
                    if len(found) > room:
                        raise _too_many(len(seen), request.max_runs)
        if not children:
            break
        frontier = children
    return found


async def plan_cancel(client: PrefectClient, request: CancelRequest) -> Plan:
    """The frozen plan: every matching run (all pages), each with its action or why it is skipped.
    No match is an empty plan, not an error: nothing to do (an unknown name is still refused)."""
    if request.max_runs <= 0:
        raise BadInput("The most runs to cancel must be more than zero.")
    selection = with_default_states(request.selection)
    resolved = await resolve(client, selection)
    matched = await count_runs(client, resolved)
    if matched > request.max_runs:
        raise _too_many(matched, request.max_runs)
    items = await _planned_runs(client, resolved, request) if matched else ()
    description = selection.describe()
    if request.include_subflows:
        description += ", with their sub-flow runs"
    policy = POLICY + (
        "; runs stuck in Cancelling are marked Cancelled (force)" if request.force_stuck else ""
    )
    return Plan(
        action=PLAN_ACTION,
        selection=description,
        items=items,
        policy=policy,
        matched=matched,
        options=CancelOptions(request.include_subflows, request.force_stuck).as_dict(),
    )


async def _planned_runs(
    client: PrefectClient, resolved: ResolvedSelection, request: CancelRequest
) -> tuple[PlannedRun, ...]:
    rows: list[_Row] = []
    seen: set[UUID] = set()
    async for page in iter_runs(client, resolved):
        for run in page:
            # offset paging can repeat a run when others are created meanwhile: keep it once
            if run.id not in seen:
                seen.add(run.id)
                rows.append(_row(run, request.force_stuck))
        if len(rows) > request.max_runs:
            raise _too_many(len(rows), request.max_runs)
    if request.include_subflows and rows:
        rows.extend(
            await _subflow_rows(client, [r.run_id for r in rows], seen, request, request.max_runs - len(rows))
        )
    deployments = await deployment_names_by_id(client, {r.deployment_id for r in rows if r.deployment_id})
    flows = await read_flow_names_by_id(client, {r.flow_id for r in rows})
    return tuple(
        PlannedRun(
            run_id=r.run_id,
            name=r.name,
            deployment=deployments.get(r.deployment_id) if r.deployment_id else None,
            state=r.state,
            action=r.action,
            scheduled_time=r.scheduled_time,
            reason=r.note,
            warnings=r.warnings,
            flow=flows.get(r.flow_id),
            state_type=r.state_type,
        )
        for r in rows
    )


# -- apply -------------------------------------------------------------------------------------


def check_plan(plan: Plan) -> None:
    if not plan.to_change:
        raise BadInput("Nothing to cancel: every planned run is skipped.")
