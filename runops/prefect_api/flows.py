"""Flow names as the server has them: all of them, by id, or checked by name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowFilter, FlowFilterId, FlowFilterName
from prefect.client.schemas.objects import Flow

from runops.prefect_api.paging import PAGE_SIZE, chunks, read_pages


async def read_flow_names(
    client: PrefectClient, names: Sequence[str] | None = None, limit: int | None = None
) -> list[str]:
    """Names of the flows (only those among `names` when given), page by page up to `limit`."""
    where = FlowFilter(name=FlowFilterName(any_=list(names))) if names is not None else None

    async def page(size: int, offset: int) -> list[Flow]:
        return await client.read_flows(flow_filter=where, limit=size, offset=offset)

    return [f.name for f in await read_pages(page, limit)]


async def read_flow_names_by_id(client: PrefectClient, ids: Iterable[UUID]) -> dict[UUID, str]:
    """Names of these flows by id: one call per 200 ids, never one per run."""
    wanted = sorted({i for i in ids if i}, key=str)
    names: dict[UUID, str] = {}
    for chunk in chunks(wanted):
        where = FlowFilter(id=FlowFilterId(any_=list(chunk)))
        names.update({f.id: f.name for f in await client.read_flows(flow_filter=where, limit=PAGE_SIZE)})
    return names
