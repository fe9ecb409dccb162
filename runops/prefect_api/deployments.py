"""Deployment endpoints Prefect's client has no method for: schedule runs, create runs in bulk."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient

MAX_RUNS = 2000  # regular runs made in one call at most (per schedule of a deployment)


async def schedule_deployment_runs(
    client: PrefectClient, deployment_id: UUID, start: datetime, end: datetime, max_runs: int = MAX_RUNS
) -> None:
    """`/deployments/{id}/schedule`: the scheduler's own generator, runs for the dates in [start, end]
    (one per schedule date, keyed by the date: dates that have a run are not made twice)."""
    response = await client.request(
        "POST",
        "/deployments/{id}/schedule",
        path_params={"id": deployment_id},
        json={
            "start_time": start.isoformat(),
            "end_time": end.isoformat(),
            "min_time": max(0.0, (end - start).total_seconds()),
            "max_runs": max_runs,
        },
    )
    response.raise_for_status()


async def bulk_create_flow_runs_from_deployment(
    client: PrefectClient, deployment_id: UUID, payload: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`/deployments/{id}/create_flow_run/bulk` (the server takes up to 100): one answer per row,
    with `flow_run_id` or `error`. A row whose idempotency key exists is answered with that run."""
    response = await client.request(
        "POST",
        "/deployments/{id}/create_flow_run/bulk",  # type: ignore[arg-type]  # not in ServerRoutes yet
        path_params={"id": deployment_id},
        json=payload,
    )
    response.raise_for_status()
    return list(response.json().get("results", []))
