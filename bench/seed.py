"""Fast seeding: insert many flow runs straight into a Prefect server's database via its own tables.

The API creates only ~6–30 runs/s here, so benchmark sets of 1,000–10,000 runs are written with
Prefect's server-side ORM table definitions (so every column gets its dialect's encoding: UUIDs,
timestamps, intervals, JSON, Pydantic columns) in a few bulk statements. The runs look like runs
created from the deployment: same flow, work queue, tags, parameters, system labels, one state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from prefect.server.database import orm_models
from prefect.server.schemas.core import FlowRunPolicy
from prefect.server.schemas.states import StateDetails, StateType
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

BATCH = 500  # rows per INSERT: well under SQLite's bound-parameter limit per statement


@dataclass(frozen=True)
class SeedTimes:
    """When one seeded run was expected to start, and (for started/finished runs) ran."""

    expected_start: datetime
    start: datetime | None = None
    end: datetime | None = None


TimesArg = Sequence[SeedTimes] | Callable[[int], SeedTimes] | None


def _times_at(times: TimesArg, index: int, state_type: StateType, now: datetime) -> SeedTimes:
    if callable(times):
        return times(index)
    if times is not None:
        return times[index]
    # defaults that look like real runs: finished ones ran a minute, a while ago
    if state_type in (StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        start = now - timedelta(minutes=10 + index % 600)
        return SeedTimes(start, start, start + timedelta(seconds=60))
    if state_type in (StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED):
        return SeedTimes(now - timedelta(minutes=5), now - timedelta(minutes=5))
    # scheduled ones at least an hour ahead, so the late-marking service leaves them Scheduled
    return SeedTimes(now + timedelta(minutes=60 + index % 600) if state_type == StateType.SCHEDULED else now)


def engine_for(database_url: str) -> Any:
    if database_url.startswith("sqlite"):
        # the server holds the same file: wait for its write lock instead of failing at once
        return create_async_engine(database_url, connect_args={"timeout": 60})
    return create_async_engine(database_url)


async def _deployment_row(conn: AsyncConnection, deployment_id: UUID) -> Any:
    deployment = orm_models.Deployment.__table__
    row = (
        await conn.execute(
            sa.select(
                deployment.c.flow_id,
                deployment.c.work_queue_id,
                deployment.c.work_queue_name,
                deployment.c.parameters,
                deployment.c.tags,
                deployment.c.version,
            ).where(deployment.c.id == deployment_id)
        )
    ).first()
    if row is None:
        raise ValueError(f"no deployment {deployment_id} in this database")
    return row


async def insert_runs(
    database_url: str,
    deployment_id: UUID,
    flow_id: UUID | None = None,
    n: int = 1,
    state_type: StateType | str = StateType.SCHEDULED,
    state_name: str | None = None,
    times: TimesArg = None,
    tags: Sequence[str] = (),
    parent_task_run_id: UUID | None = None,
    name_prefix: str = "seeded",
) -> list[UUID]:
    """Insert `n` runs of a deployment, each with one current state; returns their ids.

    `times` gives per run (a sequence, or a function of the index) the expected start and, for
    runs that started or finished, start/end: they become `expected_start_time`,
    `next_scheduled_start_time` (scheduled runs), `start_time`, `end_time`, `total_run_time`,
    `run_count` and the state's timestamp, so history and lateness look real.
    """
    if n <= 0:
        return []
    state_type = StateType(state_type.upper()) if isinstance(state_type, str) else state_type
    state_name = state_name or state_type.value.title()
    flow_run = orm_models.FlowRun.__table__
    state_table = orm_models.FlowRunState.__table__
    now = datetime.now(UTC)
    engine = engine_for(database_url)
    ids: list[UUID] = []
    try:
        async with engine.begin() as conn:
            dep = await _deployment_row(conn, deployment_id)
            flow_id = flow_id or dep.flow_id
            labels = {"prefect.flow.id": str(flow_id), "prefect.deployment.id": str(deployment_id)}
            run_tags = sorted(set(dep.tags or ()) | set(tags))
            for start in range(0, n, BATCH):
                runs: list[dict[str, Any]] = []
                states: list[dict[str, Any]] = []
                links: list[dict[str, Any]] = []
                for index in range(start, min(n, start + BATCH)):
                    run_id, state_id = uuid.uuid4(), uuid.uuid4()
                    t = _times_at(times, index, state_type, now)
                    stamp = t.end or t.start or now
                    details = StateDetails(
                        flow_run_id=run_id,
                        scheduled_time=t.expected_start if state_type == StateType.SCHEDULED else None,
                    )
                    runs.append(
                        {
                            "id": run_id,
                            "created": now,
                            "updated": now,
                            "name": f"{name_prefix}-{index:06d}-{run_id.hex[:6]}",
                            "flow_id": flow_id,
                            "deployment_id": deployment_id,
                            "deployment_version": dep.version,
                            "work_queue_id": dep.work_queue_id,
                            "work_queue_name": dep.work_queue_name,
                            "parameters": dep.parameters or {},
                            "context": {},
                            "empirical_policy": FlowRunPolicy(),
                            "tags": run_tags,
                            "labels": labels,
                            "job_variables": {},
                            "parent_task_run_id": parent_task_run_id,
                            "auto_scheduled": False,
                            "state_id": None,  # linked after the state rows exist (FKs both ways)
                            "state_type": state_type,
                            "state_name": state_name,
                            "state_timestamp": stamp,
                            "run_count": 1 if t.start else 0,
                            "expected_start_time": t.expected_start,
                            "next_scheduled_start_time": (
                                t.expected_start if state_type == StateType.SCHEDULED else None
                            ),
                            "start_time": t.start,
                            "end_time": t.end,
                            "total_run_time": (t.end - t.start) if t.start and t.end else timedelta(0),
                        }
                    )
                    states.append(
                        {
                            "id": state_id,
                            "created": now,
                            "updated": now,
                            "flow_run_id": run_id,
                            "type": state_type,
                            "name": state_name,
                            "timestamp": stamp,
                            "message": None,
                            "state_details": details,
                        }
                    )
                    links.append({"run": run_id, "state": state_id})
                    ids.append(run_id)
                await conn.execute(sa.insert(flow_run), runs)
                await conn.execute(sa.insert(state_table), states)
                await conn.execute(
                    sa.update(flow_run)
                    .where(flow_run.c.id == sa.bindparam("run"))
                    # `updated` given explicitly: its SQL onupdate default cannot run in executemany
                    .values(state_id=sa.bindparam("state"), updated=now),
                    links,
                )
    finally:
        await engine.dispose()
    return ids
