"""Every flow-run endpoint runops calls: reads, counts, single and conditional bulk state changes,
deletes, and the server-side run history (by hand where Prefect's client has no method for it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.client.schemas.responses import OrchestrationResult, SetStateStatus
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, to_state_create

BULK_LIMIT = 50  # the server refuses more runs per bulk call


@dataclass(frozen=True)
class StateAnswer:
    """The server's answer for one run of a conditional state change."""

    status: str
    state_type: str | None
    state_name: str | None
    reason: str = ""
    transition_id: UUID | None = None

    @property
    def server_failed(self) -> bool:
        """The server raised while changing this run inside a bulk call: it answers ABORT
        without a state. The run was not changed and is still due — a failure, not a skip."""
        return self.status == SetStateStatus.ABORT.value and self.state_type is None

    @classmethod
    def of(cls, result: OrchestrationResult[Any]) -> StateAnswer:
        """The same, from the answer to a single `set_state` call."""
        state = result.state
        return cls(
            status=result.status.value,
            state_type=state.type.value if state is not None else None,
            state_name=state.name if state is not None else None,
            reason=getattr(result.details, "reason", None) or "",
        )


async def bulk_set_flow_run_state(
    client: PrefectClient, where: FlowRunFilter, state: State, limit: int, transition_id: UUID | None = None
) -> dict[UUID, StateAnswer]:
    """Propose `state` (never forced) to the runs matching `where`, in one request.

    The server reads the matching runs and changes each in its own transaction under its
    orchestration rules, so a filter on ids AND state is a check made by the server right
    before the change. Runs missing from the answer did not match (any more).
    """
    create = to_state_create(state)
    if transition_id is not None:
        # one id for the whole call: a repeated call after a lost answer is recognisable
        create.state_details.transition_id = transition_id
    response = await client.request(
        "POST",
        "/flow_runs/bulk_set_state",
        json={
            "flow_runs": where.model_dump(mode="json", exclude_unset=True),
            "state": create.model_dump(mode="json", serialize_as_any=True),
            "force": False,
            "limit": max(1, min(limit, BULK_LIMIT)),
        },
    )
    found: dict[UUID, StateAnswer] = {}
    for result in response.json().get("results", []):
        new_state = result.get("state") or {}
        details = new_state.get("state_details") or {}
        found[UUID(str(result["flow_run_id"]))] = StateAnswer(
            status=str(result.get("status")),
            state_type=new_state.get("type"),
            state_name=new_state.get("name"),
            reason=(result.get("details") or {}).get("reason") or "",
            transition_id=UUID(str(details["transition_id"])) if details.get("transition_id") else None,
        )
    return found


def cancelled_bare(answers: dict[UUID, StateAnswer]) -> list[UUID]:
    """Runs the server made Cancelled in place of the proposed Cancelling (a not-started run with
    nothing to stop: core policy `BypassCancellingFlowRunsWithNoInfra`). Its substitute is a bare
    `Cancelled()`: the proposal's message is gone."""
    return [
        run_id
        for run_id, answer in answers.items()
        if answer.status == SetStateStatus.REJECT.value and answer.state_type == StateType.CANCELLED.value
    ]


async def sign_cancelled(
    client: PrefectClient,
    answers: dict[UUID, StateAnswer],
    message: str,
    transition_id: UUID | None = None,
) -> None:
    """Put `message` on the runs of `answers` the server cancelled without it (`cancelled_bare`):
    `Cancelled` once more, with the message, to those still Cancelled (a Cancelled → Cancelled
    proposal the core policy accepts), in one request. Best effort: the runs are cancelled either
    way, so an error here leaves them without the message rather than failing them."""
    run_ids = cancelled_bare(answers)
    if not run_ids:
        return
    where = FlowRunFilter(
        id=FlowRunFilterId(any_=run_ids),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CANCELLED])),
    )
    try:
        await bulk_set_flow_run_state(
            client, where, Cancelled(message=message), limit=len(run_ids), transition_id=transition_id
        )
    except httpx.HTTPError:
        pass


async def set_flow_run_state_with_transition(
    client: PrefectClient, run_id: UUID, state: State, transition_id: UUID
) -> OrchestrationResult[Any]:
    """`set_flow_run_state` without force, with our own transition id (the client draws a new one)."""
    create = to_state_create(state)
    create.state_details.flow_run_id = run_id
    create.state_details.transition_id = transition_id
    response = await client.request(
        "POST",
        "/flow_runs/{id}/set_state",
        path_params={"id": run_id},
        json={"state": create.model_dump(mode="json", serialize_as_any=True), "force": False},
    )
    return OrchestrationResult.model_validate(response.json())


async def bulk_delete_flow_runs(client: PrefectClient, where: FlowRunFilter) -> set[UUID]:
    """Delete the runs matching `where` (at most BULK_LIMIT), in one request; returns the deleted ids."""
    response = await client.request(
        "POST",
        "/flow_runs/bulk_delete",
        json={"flow_runs": where.model_dump(mode="json", exclude_unset=True), "limit": BULK_LIMIT},
    )
    return {UUID(str(i)) for i in response.json().get("deleted", [])}


async def read_flow_run_history(client: PrefectClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The server's `/flow_runs/history`: runs per interval and state, counted by the server."""
    response = await client.request("POST", "/flow_runs/history", json=body)
    return list(response.json())


async def read_flow_run(client: PrefectClient, run_id: UUID) -> FlowRun | None:
    """The run as the server has it now; None once it is deleted."""
    try:
        return await client.read_flow_run(run_id)
    except ObjectNotFound:
        return None


async def read_flow_runs(
    client: PrefectClient,
    *,
    sort: FlowRunSort | None = None,
    limit: int | None = None,
    offset: int = 0,
    **filters: Any,
) -> list[FlowRun]:
    """One page of the runs matching Prefect's filters (`flow_run_filter`, `deployment_filter`,
    `flow_filter`, `work_pool_filter`, ...), in `sort` order."""
    return await client.read_flow_runs(**filters, sort=sort, limit=limit, offset=offset)


async def count_flow_runs(client: PrefectClient, **filters: Any) -> int:
    """How many runs match Prefect's filters, counted by the server."""
    return await client.count_flow_runs(**filters)


async def read_flow_run_states(client: PrefectClient, run_id: UUID) -> list[State]:
    """A run's state history, oldest first."""
    return await client.read_flow_run_states(run_id)


async def set_flow_run_state(client: PrefectClient, run_id: UUID, state: State) -> StateAnswer | None:
    """Propose `state` to one run, never forced (the server's orchestration rules decide);
    None once the run is deleted."""
    try:
        result = await client.set_flow_run_state(run_id, state, force=False)
    except ObjectNotFound:
        return None
    return StateAnswer.of(result)


async def delete_flow_run(client: PrefectClient, run_id: UUID) -> None:
    """Delete one run (a run already gone raises ObjectNotFound)."""
    await client.delete_flow_run(run_id)


async def create_flow_run_from_deployment(
    client: PrefectClient, deployment_id: UUID, **fields: Any
) -> FlowRun:
    """A new run of a deployment; a run with the same idempotency key is answered, not made twice."""
    return await client.create_flow_run_from_deployment(deployment_id, **fields)
