"""Emit each completed operation as a Prefect event, so it shows in Prefect's own event feed."""

from __future__ import annotations

from uuid import uuid4

from prefect.client.orchestration import PrefectClient
from prefect.events.schemas.events import Event

from runops.engine.plan import Report

EVENT_NAME = "runops.operation.completed"
MAX_RELATED = 100  # the server keeps at most this many related resources per event


def operation_event(report: Report) -> Event:
    """The event for one operation; the touched runs are its related resources."""
    touched = [r for r in report.results if r.outcome == "done"] or report.results
    related = [
        {
            "prefect.resource.id": f"prefect.flow-run.{r.run_id}",
            "prefect.resource.role": "flow-run",
            "prefect.resource.name": r.name,
            "runops.outcome": r.outcome,
        }
        for r in touched[:MAX_RELATED]
    ]
    return Event(
        occurred=report.started_at,
        event=EVENT_NAME,
        resource={
            "prefect.resource.id": f"runops.operation.{report.uid}",
            "prefect.resource.name": report.action,
            "runops.actor": report.actor or "unknown",
        },
        related=related,
        payload={
            "action": report.action,
            "selection": report.selection,
            "policy": report.policy,
            "planned": report.planned,
            "totals": report.totals,
            "duration_s": round(report.duration_s, 3),
            "audit_id": report.audit_id,
            "related_truncated": len(touched) > MAX_RELATED,
        },
        id=uuid4(),
    )


async def emit_operation(client: PrefectClient, report: Report) -> None:
    response = await client.request("POST", "/events", json=[operation_event(report).model_dump(mode="json")])
    response.raise_for_status()
