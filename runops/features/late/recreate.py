"""Recreate mode's server calls: the replacement of a run, made one or up to 50 at a time."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentFlowRunCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey
from prefect.client.schemas.objects import FlowRun
from prefect.states import Scheduled, to_state_create

from runops.engine.messages import UNSIGNED, Signed
from runops.engine.plan import PlannedRun
from runops.prefect_api.deployments import bulk_create_flow_runs_from_deployment
from runops.prefect_api.flow_runs import read_flow_runs


def idempotency_key(run_id: UUID) -> str:
    """The replacement's key: derived from the original, so a retry or re-run finds it, not a copy."""
    return f"runops-reschedule:{run_id}"


def replacement_fields(item: PlannedRun, run: FlowRun, signed: Signed = UNSIGNED) -> dict[str, Any]:
    """Everything of `run` its replacement carries over, scheduled for the plan's new time; its
    state message names the job's actor and reason, and the run it replaces."""
    assert item.new_time is not None
    message = signed.message("rescheduled", f"recreated from late run {run.id}")
    return {
        "parameters": run.parameters,
        "context": run.context or {},
        "state": Scheduled(scheduled_time=item.new_time, message=message),
        "name": run.name,
        "tags": list(run.tags),
        "idempotency_key": idempotency_key(run.id),
        "work_queue_name": run.work_queue_name if run.work_pool_name else None,
        "job_variables": run.job_variables,
        "labels": {k: v for k, v in (run.labels or {}).items() if not k.startswith("prefect.")},
    }


async def create_replacements(
    client: PrefectClient,
    deployment_id: UUID,
    rows: list[tuple[PlannedRun, FlowRun]],
    signed: Signed = UNSIGNED,
) -> list[tuple[UUID | None, str]]:
    """One `/deployments/{id}/create_flow_run/bulk` call (no client method; the server takes up
    to 100): per row, the replacement's id, or None and the server's reason. A replacement that
    exists already (same idempotency key) is answered with its id, not made twice."""
    payload = []
    for item, run in rows:
        fields = replacement_fields(item, run, signed)
        fields["state"] = to_state_create(fields["state"])
        if fields["work_queue_name"] is None:
            del fields["work_queue_name"]  # as the client's own create: the deployment's queue
        payload.append(DeploymentFlowRunCreate(**fields).model_dump(mode="json", exclude_unset=True))
    answers = await bulk_create_flow_runs_from_deployment(client, deployment_id, payload)
    if len(answers) != len(rows):
        return [(None, "the server answered for another number of runs")] * len(rows)
    return [
        (UUID(str(a["flow_run_id"])), "") if a.get("flow_run_id") else (None, a.get("error") or "not created")
        for a in answers
    ]


async def replacements_of(client: PrefectClient, originals: list[UUID]) -> dict[UUID, FlowRun]:
    """The replacements already made for these originals (by an earlier attempt), in one read."""
    if not originals:
        return {}
    keys = {idempotency_key(run_id): run_id for run_id in originals}
    found = await read_flow_runs(
        client,
        flow_run_filter=FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=list(keys))),
        limit=len(keys),
    )
    return {keys[run.idempotency_key]: run for run in found if run.idempotency_key in keys}
