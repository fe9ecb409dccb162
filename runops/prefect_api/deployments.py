"""Every deployment endpoint runops calls: reads in pages, and by hand where Prefect's client has no
method (schedule runs, create runs in bulk)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.responses import DeploymentResponse

from runops.prefect_api.paging import PAGE_SIZE, chunks, read_pages

MAX_RUNS = 2000  # regular runs made in one call at most (per schedule of a deployment)


async def read_deployments(client: PrefectClient) -> list[DeploymentResponse]:
    """Every deployment (all pages, not the first one)."""

    async def page(size: int, offset: int) -> list[DeploymentResponse]:
        return await client.read_deployments(limit=size, offset=offset)

    return await read_pages(page)


async def read_deployments_by_id(client: PrefectClient, ids: Iterable[UUID]) -> list[DeploymentResponse]:
    """These deployments (unknown ids are left out): one call per 200 ids, never one per id."""
    wanted = sorted({i for i in ids if i}, key=str)
    found: list[DeploymentResponse] = []
    for chunk in chunks(wanted):
        where = DeploymentFilter(id=DeploymentFilterId(any_=list(chunk)))
        found.extend(await client.read_deployments(deployment_filter=where, limit=PAGE_SIZE))
    return found


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
