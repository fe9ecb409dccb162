"""Work pools and their workers as Prefect reports them (heartbeats say whether a worker is alive)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
from prefect.client.schemas.objects import Worker, WorkerStatus, WorkPool

from runops.prefect_api.paging import read_pages


@dataclass(frozen=True)
class PoolLiveness:
    """Whether a work pool has a worker that is alive, by the server's account."""

    name: str
    status: str | None  # READY / NOT_READY / PAUSED, as the server reports the pool
    online_workers: int
    last_heartbeat: datetime | None

    @property
    def live(self) -> bool:
        return self.online_workers > 0


async def read_work_pool_names(
    client: PrefectClient, names: Sequence[str] | None = None, limit: int | None = None
) -> list[str]:
    """Names of the work pools (only those among `names` when given), page by page up to `limit`."""
    where = WorkPoolFilter(name=WorkPoolFilterName(any_=list(names))) if names is not None else None

    async def page(size: int, offset: int) -> list[WorkPool]:
        return await client.read_work_pools(work_pool_filter=where, limit=size, offset=offset)

    return [p.name for p in await read_pages(page, limit)]


async def read_workers_for_work_pool(client: PrefectClient, work_pool_name: str) -> list[Worker]:
    """Every worker of a pool (all pages); the server marks each ONLINE or OFFLINE by its heartbeats."""

    async def page(size: int, offset: int) -> list[Worker]:
        return await client.read_workers_for_work_pool(work_pool_name, limit=size, offset=offset)

    return await read_pages(page)


async def read_work_pools_liveness(client: PrefectClient, names: Iterable[str]) -> dict[str, PoolLiveness]:
    """Liveness of these pools (unknown names are left out): one read of the pools, one per pool's workers."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    pools = await client.read_work_pools(
        work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=wanted))
    )
    found: dict[str, PoolLiveness] = {}
    for pool in pools:
        workers = await read_workers_for_work_pool(client, pool.name)
        beats = [w.last_heartbeat_time for w in workers if w.last_heartbeat_time is not None]
        found[pool.name] = PoolLiveness(
            name=pool.name,
            status=pool.status.value if pool.status is not None else None,
            online_workers=sum(1 for w in workers if w.status == WorkerStatus.ONLINE),
            last_heartbeat=max(beats) if beats else None,
        )
    return found
