"""Write backdated run history straight into a Prefect server's database.

The API stamps every state with the server's clock, so history that happened "last week"
(demo data, tests, benchmarks) can only be written through the server's own tables. This
uses Prefect's ORM table definitions so timestamps and intervals get each dialect's encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from prefect.server.database import orm_models
from sqlalchemy.ext.asyncio import create_async_engine


@dataclass(frozen=True)
class RunTimes:
    run_id: UUID
    expected_start: datetime
    start: datetime | None = None
    end: datetime | None = None


async def backdate(database_url: str, runs: Sequence[RunTimes]) -> None:
    """Set expected/start/end times, run time and the current state's timestamp of `runs`."""
    if not runs:
        return
    flow_run = orm_models.FlowRun.__table__
    state = orm_models.FlowRunState.__table__
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for times in runs:
                values: dict[str, object] = {
                    "expected_start_time": times.expected_start,
                    "start_time": times.start,
                    "end_time": times.end,
                }
                if times.start and times.end:
                    values["total_run_time"] = times.end - times.start
                stamp = times.end or times.start
                if stamp:
                    values["state_timestamp"] = stamp
                await conn.execute(sa.update(flow_run).where(flow_run.c.id == times.run_id).values(**values))
                if stamp:
                    current = (
                        sa.select(flow_run.c.state_id).where(flow_run.c.id == times.run_id).scalar_subquery()
                    )
                    await conn.execute(sa.update(state).where(state.c.id == current).values(timestamp=stamp))
    finally:
        await engine.dispose()
