"""Retry and stuck-clearing jobs stopped mid-way and resumed: every run changed exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.states import Failed, Running

from runops.dev.backdate import RunTimes
from runops.engine import jobs
from runops.engine.apply import ApplyOptions
from runops.engine.plan import Plan, RunResult
from runops.features import retry, stuck
from runops.store import Store
from runops.store.jobs import INTERRUPTED
from tests.factories import Prefect, ago, later

RUNS = 40
ANSWERED_BEFORE_KILL = 12


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "runops.sqlite")


Apply = Callable[..., Awaitable[object]]


def kill_mid_way(prefect: Prefect, apply: Apply, plan: Plan, store: Store) -> str:
    """Start the job one request at a time and cancel it once some runs are answered (a request is
    then in flight: its run may change without an answer, as when a process dies)."""
    answered: list[RunResult] = []

    async def main(client: PrefectClient) -> None:
        task = asyncio.create_task(
            apply(
                client,
                plan,
                actor="ana",
                store=store,
                options=ApplyOptions(concurrency=1),
                progress=lambda d, t, r: answered.append(r),
            )
        )
        while len(answered) < ANSWERED_BEFORE_KILL and not task.done():
            await asyncio.sleep(0.01)
        assert not task.done(), task.exception()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    prefect.run(main)
    [job] = store.jobs.list()
    assert job.status == INTERRUPTED and ANSWERED_BEFORE_KILL <= job.totals["done"] < RUNS
    return job.id


def states_after(prefect: Prefect, run_id: UUID, first: str) -> list[str]:
    """The run's state names after the last `first` state (its state before the job)."""
    names = [s.name for s in prefect.harness(lambda c: c.read_flow_run_states(run_id))]
    return names[len(names) - names[::-1].index(first) :]


def resume_all(prefect: Prefect, store: Store, job_id: str) -> None:
    report = prefect.run(jobs.resume, store, job_id, actor="bob")
    assert report is not None and report.planned == RUNS
    assert report.totals == {"done": RUNS, "skipped": 0, "failed": 0, "not_attempted": 0}
    assert store.jobs.get(job_id).status == "done"
    assert prefect.run(jobs.resume, store, job_id, actor="bob") is None  # nothing left to do


def test_a_retry_killed_mid_way_then_resumed_retries_each_run_once(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Failed()] * RUNS)
    at = later(hours=3).replace(microsecond=0)
    plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,), at=at))
    assert len(plan.to_change) == RUNS
    job_id = kill_mid_way(prefect, retry.apply_retry, plan, store)
    resume_all(prefect, store, job_id)
    stored = prefect.read_many([r.id for r in runs])
    for run in runs:
        assert stored[run.id].state.name == "Scheduled"
        assert abs(stored[run.id].next_scheduled_start_time - at) < timedelta(seconds=1)
        assert states_after(prefect, run.id, "Failed") == ["Scheduled"], run.name


def test_a_stuck_clear_killed_mid_way_then_resumed_marks_each_run_once(
    prefect: Prefect, store: Store
) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Running()] * RUNS)
    prefect.backdate([RunTimes(r.id, ago(hours=3), ago(hours=3)) for r in runs])
    findings = prefect.run(stuck.find_stuck, stuck.StuckRequest(deployments=(deployment.full_name,)))
    plan = stuck.plan_from(findings)
    assert len(plan.to_change) == RUNS
    job_id = kill_mid_way(prefect, stuck.apply_stuck, plan, store)
    resume_all(prefect, store, job_id)
    stored = prefect.read_many([r.id for r in runs])
    for run in runs:
        assert stored[run.id].state.name == "Crashed"
        assert states_after(prefect, run.id, "Running") == ["Crashed"], run.name
