"""The throwaway PostgreSQL cluster: answers SQL on its free port, and leaves nothing behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.infra.postgres import postgres_server
from tests.infra.procs import alive, processes_in_groups
from tests.infra_tests.conftest import needs_backend

pytestmark = needs_backend("postgres", "scaled")


async def _query(url: str, sql: str) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text(sql))).scalar()
    finally:
        await engine.dispose()


def test_cluster_serves_a_fresh_database_and_stops_cleanly() -> None:
    with postgres_server() as cluster:
        root = cluster.root
        url = cluster.create_database()
        assert url.startswith("postgresql+asyncpg://") and f":{cluster.port}/" in url
        assert "PostgreSQL" in str(asyncio.run(_query(url, "select version()")))
        assert asyncio.run(_query(url, "show fsync")) == "off"
        # Each call gives another, empty database.
        other = cluster.create_database()
        assert other != url
        assert asyncio.run(_query(other, "select count(*) from pg_tables where schemaname = 'public'")) == 0
        postmaster = cluster.postmaster_pid()
        assert postmaster is not None
        assert processes_in_groups([postmaster]), "the postmaster runs in its own process group"
        # Backends and helpers run in process groups of their own: follow them by parent.
        processes = cluster.processes()
        assert len(processes) > 3 and alive(processes) == processes
    assert processes_in_groups([postmaster]) == {}
    assert alive(processes) == []
    assert not Path(root).exists()
