"""Factories that create deployments and runs in given states on the real test server.

Every test gets deployments with unique names, so tests sharing the session server never see
each other's runs as long as they select by deployment (or by their own tag).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.states import Late

from runops.dev.backdate import RunTimes, backdate
from runops.prefect_api.client import call, run_sync
from runops.settings import Settings

T = TypeVar("T")

# The test server's SQLite answers 503 "database is locked" now and then while its own services
# write; runops keeps the client's retries short (it retries whole run actions itself), but the
# harness's seeding and checking has no such layer, so it waits longer rather than fail a test.
HARNESS_RETRIES = 6


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ago(**kwargs: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kwargs)


def later(**kwargs: float) -> datetime:
    return datetime.now(UTC) + timedelta(**kwargs)


@dataclass(frozen=True)
class Deployment:
    id: UUID
    flow: str
    name: str
    work_pool: str | None

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


@dataclass(frozen=True)
class Prefect:
    settings: Settings
    database_url: str

    def run(self, action: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run `action(client, *args)` against the test server (runops' own client settings)."""
        return call(self.settings, action, *args, **kwargs)

    def harness(self, action: Callable[[PrefectClient], Awaitable[T]]) -> T:
        """Run the harness's own seeding or checking, patient with a busy database."""

        async def patient(client: PrefectClient) -> T:
            with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: HARNESS_RETRIES}):
                return await action(client)

        return call(self.settings, patient)

    # -- creating -------------------------------------------------------------------------
    def deployment(
        self,
        flow: str | None = None,
        name: str | None = None,
        work_pool: str | None = None,
        tags: Sequence[str] = (),
        parameters: dict[str, Any] | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> Deployment:
        flow = flow or unique("flow")
        name = name or unique("deploy")

        async def create(client: PrefectClient) -> Deployment:
            if work_pool:
                try:
                    await client.create_work_pool(WorkPoolCreate(name=work_pool, type="process"))
                except ObjectAlreadyExists:
                    pass
            flow_id = await client.create_flow_from_name(flow)
            deployment_id = await client.create_deployment(
                flow_id=flow_id,
                name=name,
                work_pool_name=work_pool,
                tags=list(tags),
                parameters=parameters or {},
                job_variables=job_variables or {},
            )
            return Deployment(deployment_id, flow, name, work_pool)

        return self.harness(create)

    def runs(
        self,
        deployment: Deployment,
        states: Sequence[State] | Callable[[int], State],
        count: int | None = None,
        tags: Sequence[str] = (),
        parameters: dict[str, Any] | None = None,
        job_variables: dict[str, Any] | None = None,
        concurrency: int = 4,
    ) -> list[FlowRun]:
        """Create runs of `deployment`, each in the given state (a list, or a factory by index)."""
        if callable(states):
            made = [states(i) for i in range(count or 0)]
        else:
            made = list(states)

        async def create(client: PrefectClient) -> list[FlowRun]:
            gate = asyncio.Semaphore(concurrency)

            async def one(state: State) -> FlowRun:
                async with gate:
                    return await client.create_flow_run_from_deployment(
                        deployment.id,
                        state=state,
                        tags=list(tags),
                        parameters=parameters,
                        job_variables=job_variables,
                    )

            return list(await asyncio.gather(*(one(s) for s in made)))

        return self.harness(create)

    def late_runs(self, deployment: Deployment, count: int, **kwargs: Any) -> list[FlowRun]:
        """`count` Late runs, the i-th scheduled (i+1) hours ago (so the newest is index 0)."""
        return self.runs(deployment, lambda i: Late(scheduled_time=ago(hours=i + 1)), count, **kwargs)

    def backdate(self, times: Sequence[RunTimes]) -> None:
        run_sync(lambda: backdate(self.database_url, times))

    # -- reading (to check the stored state after an action) --------------------------------
    def read(self, run_id: UUID) -> FlowRun | None:
        async def read(client: PrefectClient) -> FlowRun | None:
            try:
                return await client.read_flow_run(run_id)
            except ObjectNotFound:
                return None

        return self.harness(read)

    def read_many(self, run_ids: Sequence[UUID]) -> dict[UUID, FlowRun | None]:
        return {run_id: self.read(run_id) for run_id in run_ids}

    def set_state(self, run_id: UUID, state: State, force: bool = True) -> None:
        async def set_(client: PrefectClient) -> None:
            await client.set_flow_run_state(run_id, state, force=force)

        self.harness(set_)

    def runs_of(self, deployment: Deployment) -> list[FlowRun]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

        async def read(client: PrefectClient) -> list[FlowRun]:
            found: list[FlowRun] = []
            flt = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
            while True:
                page = await client.read_flow_runs(flow_run_filter=flt, limit=200, offset=len(found))
                found.extend(page)
                if len(page) < 200:
                    return found

        return self.harness(read)


def finished_runs(
    prefect: Prefect,
    deployment: Deployment,
    rows: Sequence[tuple[State, datetime, datetime | None, datetime | None]],
    tags: Sequence[str] = (),
    concurrency: int = 1,
) -> list[FlowRun]:
    """Runs in finished states with backdated (state, expected start, start, end) times.

    The API stamps states with the server's clock, so the times are written through the
    server's database afterwards; the returned runs are re-read from the server. One create at a
    time by default: concurrent creates on SQLite meet "database is locked" 503s on a busy machine.
    """
    created = prefect.runs(deployment, [row[0] for row in rows], tags=tags, concurrency=concurrency)
    prefect.backdate(
        [
            RunTimes(run.id, expected, start, end)
            for run, (_, expected, start, end) in zip(created, rows, strict=True)
        ]
    )
    return [prefect.read(run.id) for run in created]


def seeded_runs(
    prefect: Prefect,
    deployment: Deployment,
    n: int,
    state_type: str = "SCHEDULED",
    state_name: str | None = None,
    tags: Sequence[str] = (),
    times: Any = None,
) -> list[UUID]:
    """`n` runs written straight into the server's database with bench/seed.py (Prefect's own
    tables), for sets the API would take minutes to create (~6–30 runs/s here); `times` as
    `bench.seed.insert_runs` takes them."""
    from bench.seed import insert_runs

    return run_sync(
        lambda: insert_runs(
            prefect.database_url,
            deployment.id,
            n=n,
            state_type=state_type,
            state_name=state_name,
            tags=tags,
            times=times,
        )
    )


def subflow_run(prefect: Prefect, parent_run_id: UUID, deployment: Deployment, state: State) -> FlowRun:
    """A sub-flow run of `parent_run_id`: a placeholder task run in the parent, as the engine makes."""
    from prefect.tasks import Task

    async def create(client: PrefectClient) -> FlowRun:
        task = Task(fn=lambda: None, name="subflow")
        task_run = await client.create_task_run(task, flow_run_id=parent_run_id, dynamic_key=unique("k"))
        return await client.create_flow_run_from_deployment(
            deployment.id, state=state, parent_task_run_id=task_run.id
        )

    return prefect.harness(create)
