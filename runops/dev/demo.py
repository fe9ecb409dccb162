"""Demo data for the embedded server: a work pool, deployments, and runs in every state the pages use.

Idempotent: a server that already has runs tagged `runops-demo` is left as it is. Only the
embedded server is seeded unless the caller names another server and its database explicitly.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import ObjectAlreadyExists
from prefect.states import Cancelled, Completed, Crashed, Failed, Late, Pending, Running, Scheduled

from runops.dev.backdate import RunTimes, backdate

DEMO_TAG = "runops-demo"
WORK_POOL = "demo-process-pool"


@dataclass(frozen=True)
class DemoDeployment:
    flow: str
    name: str
    median_s: float  # typical duration
    late: int  # how many Late runs
    tags: tuple[str, ...]


DEPLOYMENTS = (
    DemoDeployment("etl-daily", "hourly-sync", 95, 20, ("etl", "prod")),
    DemoDeployment("etl-daily", "nightly-load", 1500, 12, ("etl", "prod")),
    DemoDeployment("ml-train", "retrain", 3400, 0, ("ml",)),
    DemoDeployment("report-build", "weekly-report", 420, 0, ("reports",)),
)


async def already_seeded(client: PrefectClient) -> bool:
    flt = FlowRunFilter(tags=FlowRunFilterTags(all_=[DEMO_TAG]))
    return await client.count_flow_runs(flow_run_filter=flt) > 0


async def seed(client: PrefectClient, database_url: str, completed: int = 320, seed_value: int = 7) -> str:
    """Create the demo; returns a sentence saying what was done."""
    if await already_seeded(client):
        return "Demo data already present; nothing changed."
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    deployment_ids = await _deployments(client)

    async def make(spec: DemoDeployment, state: State, tags: tuple[str, ...] = ()) -> FlowRun:
        return await client.create_flow_run_from_deployment(
            deployment_ids[spec], state=state, tags=[*spec.tags, DEMO_TAG, *tags]
        )

    backdated = await _open_runs(make, rng, now)
    # one at a time: concurrent writes to the embedded SQLite server end in "database is locked"
    for spec, state, expected, start, end in _finished(rng, now, completed):
        run = await make(spec, state)
        backdated.append(RunTimes(run.id, expected, start, end))
    await backdate(database_url, backdated)
    total = sum(s.late for s in DEPLOYMENTS) + 3 * len(DEPLOYMENTS) + 2 + 3 + completed
    return f"Seeded {len(DEPLOYMENTS)} deployments and {total} runs."


async def _deployments(client: PrefectClient) -> dict[DemoDeployment, UUID]:
    try:
        await client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))
    except ObjectAlreadyExists:
        pass
    ids = {}
    for spec in DEPLOYMENTS:
        flow_id = await client.create_flow_from_name(spec.flow)
        ids[spec] = await client.create_deployment(
            flow_id=flow_id,
            name=spec.name,
            work_pool_name=WORK_POOL,
            tags=[*spec.tags, DEMO_TAG],
            parameters={"source": spec.name},
            entrypoint=f"flows/{spec.flow.replace('-', '_')}.py:main",
        )
    return ids


async def _open_runs(
    make: Callable[[DemoDeployment, State], Awaitable[FlowRun]], rng: random.Random, now: datetime
) -> list[RunTimes]:
    """Late backlogs (minutes to days late), a few coming, Pending and Running runs."""
    backdated: list[RunTimes] = []
    for spec in DEPLOYMENTS:
        for i in range(spec.late):
            late_by = timedelta(minutes=5 + (i**2.2) * 7 + rng.uniform(0, 20))
            await make(spec, Late(scheduled_time=now - late_by))
        for i in range(3):
            await make(spec, Scheduled(scheduled_time=now + timedelta(hours=2 + 6 * i)))
    await make(DEPLOYMENTS[0], Pending())
    await make(DEPLOYMENTS[2], Pending())
    for spec in DEPLOYMENTS[:3]:
        run = await make(spec, Running())
        started = now - timedelta(seconds=spec.median_s * 0.4)
        backdated.append(RunTimes(run.id, started - timedelta(seconds=20), started, None))
    return backdated


def _finished(
    rng: random.Random, now: datetime, completed: int
) -> list[tuple[DemoDeployment, State, datetime, datetime, datetime]]:
    """Two weeks of finished runs: mostly Completed, some Failed, Crashed, Cancelled."""
    weights = [0.45, 0.2, 0.2, 0.15]
    finished = []
    for _ in range(completed):
        spec = rng.choices(DEPLOYMENTS, weights)[0]
        roll = rng.random()
        state = (
            Completed()
            if roll < 0.88
            else Failed()
            if roll < 0.95
            else Crashed()
            if roll < 0.975
            else Cancelled()
        )
        expected = now - timedelta(days=14) + timedelta(seconds=rng.uniform(0, 14 * 86400 - 4 * 3600))
        start = expected + timedelta(seconds=max(0.5, rng.lognormvariate(1.5, 1.0)))
        end = start + timedelta(seconds=spec.median_s * rng.lognormvariate(0, 0.35))
        finished.append((spec, state, expected, start, end))
    return finished
