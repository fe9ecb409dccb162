"""Durable jobs on a real Prefect server and a real store: recorded first, stopped, killed, resumed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import PrefectClient

from runops.engine import jobs
from runops.engine.apply import ApplyOptions
from runops.engine.execute import StopSignal
from runops.engine.plan import DONE, Plan, RunResult
from runops.engine.runner import JobRunner
from runops.features import late
from runops.prefect_api.client import open_client, run_sync
from runops.store import Store
from runops.store.jobs import INTERRUPTED, RUNNING, STOPPED, JobBusy, UnknownJob
from tests.factories import Deployment, Prefect
from tests.faults import Passthrough

ONE_AT_A_TIME = ApplyOptions(concurrency=1)
SHIFT = "20d"  # later than the oldest test run is late: no new time in the past


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "runops.sqlite")


def shift_plan(prefect: Prefect, deployment: Deployment) -> Plan:
    request = late.RescheduleRequest(deployments=(deployment.full_name,), delay=SHIFT)
    return prefect.run(late.plan_reschedule, request)


def moved_exactly_once(prefect: Prefect, plan: Plan) -> int:
    """Every planned run is at its old time or at its old time + SHIFT (never twice that); returns
    how many moved."""
    stored = prefect.read_many([i.run_id for i in plan.items])
    moved = 0
    for item in plan.items:
        run = stored[item.run_id]
        assert run is not None and item.scheduled_time is not None
        when = run.next_scheduled_start_time
        assert when in (item.scheduled_time, item.scheduled_time + timedelta(days=20)), (item.name, when)
        moved += when == item.new_time and run.state_name == "Scheduled"
    return moved


class Gate(Passthrough):
    """Checks, at the first state change, that the job is already in the store with every run."""

    def __init__(self, store: Store, planned: int) -> None:
        super().__init__()
        self.store, self.planned, self.seen = store, planned, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "set_state" in request.url.path and not self.seen:
            self.seen = True
            [job] = self.store.jobs.list()
            assert job.status == RUNNING and job.planned == self.planned and job.answered == 0
            assert len(self.store.jobs.runs(job.id)) == self.planned
        return await super().handle_async_request(request)


def test_a_job_is_recorded_before_its_first_change(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 5)
    plan = shift_plan(prefect, deployment)
    gate = Gate(store, 5)

    async def main() -> None:
        async with open_client(prefect.settings, gate) as client:
            await late.apply_reschedule(client, plan, actor="ana", store=store, reason="INC-1 db failover")

    run_sync(main)
    assert gate.seen
    [job] = store.jobs.list()
    assert job.status == "done" and job.totals == {"done": 5, "skipped": 0, "failed": 0, "not_attempted": 0}
    assert job.reason == "INC-1 db failover" and job.actor == "ana"
    runs = store.jobs.runs(job.id)
    assert [r.item.new_time for r in runs] == [i.new_time for i in plan.items]
    assert {r.outcome for r in runs} == {DONE}
    [operation] = store.audit.operations()
    assert operation["job_id"] == job.id and operation["reason"] == "INC-1 db failover"
    assert moved_exactly_once(prefect, plan) == 5


def test_cancelled_mid_way_then_resumed_changes_every_run_exactly_once(
    prefect: Prefect, store: Store
) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 40)
    plan = shift_plan(prefect, deployment)
    answered: list[RunResult] = []

    async def killed_mid_way(client: PrefectClient) -> None:
        task = asyncio.create_task(
            late.apply_reschedule(
                client,
                plan,
                actor="ana",
                store=store,
                options=ONE_AT_A_TIME,
                progress=lambda d, t, r: answered.append(r),
            )
        )
        while len(answered) < 12 and not task.done():
            await asyncio.sleep(0.01)
        assert not task.done(), task.exception()
        task.cancel()  # a request is in flight: its run may change without an answer
        with pytest.raises(asyncio.CancelledError):
            await task

    prefect.run(killed_mid_way)
    [job] = store.jobs.list()
    assert job.status == INTERRUPTED
    assert 12 <= job.totals["done"] < 40
    on_server_before = moved_exactly_once(prefect, plan)
    assert on_server_before >= job.totals["done"]  # a change without an answer is possible

    report = prefect.run(jobs.resume, store, job.id, actor="bob")
    assert report is not None and report.job_id == job.id
    assert report.planned == 40 and report.totals == {
        "done": 40,
        "skipped": 0,
        "failed": 0,
        "not_attempted": 0,
    }
    assert [r.run_id for r in report.results] == [i.run_id for i in plan.items]
    assert moved_exactly_once(prefect, plan) == 40
    after = store.jobs.get(job.id)
    assert after.status == "done" and after.attempts == 2 and after.totals["done"] == 40
    # nothing left: a second resume has nothing to do and changes nothing
    assert prefect.run(jobs.resume, store, job.id, actor="bob") is None


def test_stop_answers_what_is_in_flight_and_leaves_the_rest_not_attempted(
    prefect: Prefect, store: Store
) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 40)
    plan = shift_plan(prefect, deployment)
    stop = StopSignal()

    def progress(done: int, _total: int, _result: RunResult) -> None:
        if done == 10:
            stop.request(STOPPED)

    report = prefect.run(
        late.apply_reschedule,
        plan,
        actor="ana",
        store=store,
        options=ONE_AT_A_TIME,
        progress=progress,
        stop=stop,
    )
    totals = report.totals
    assert report.status == STOPPED and totals["failed"] == 0 and totals["skipped"] == 0
    assert totals["done"] >= 10 and totals["done"] + totals["not_attempted"] == 40
    # exact: what the job says it did is what the server holds
    assert moved_exactly_once(prefect, plan) == totals["done"]
    job = store.jobs.get(report.job_id or "")
    assert job.status == STOPPED and job.totals == totals

    resumed = prefect.run(jobs.resume, store, job.id, actor="ana")
    assert resumed is not None and resumed.totals["done"] == 40
    assert moved_exactly_once(prefect, plan) == 40


def test_the_dashboard_runner_applies_outside_the_caller_and_stops_from_the_store(
    prefect: Prefect, store: Store
) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 60)
    plan = shift_plan(prefect, deployment)
    runner = JobRunner()
    job_id = runner.start(prefect.settings, store, plan, actor="ana")
    # recorded at once, before the background thread changes anything
    assert store.jobs.get(job_id).planned == 60
    # a Stop asked through the store alone (as another replica would) reaches the owner
    for _ in range(600):
        if store.jobs.get(job_id).answered >= 5:
            break
        runner.wait(job_id, 0.05)
    store.jobs.request_stop(job_id)
    assert runner.wait(job_id, 60)
    job = store.jobs.get(job_id)
    if job.totals["done"] < 60:  # it may have finished before the Stop arrived
        assert job.status == STOPPED
        assert job.totals["done"] + job.totals["not_attempted"] == 60
    assert moved_exactly_once(prefect, plan) == job.totals["done"]
    assert runner.resume(prefect.settings, store, job_id, actor="ana") == (job.totals["done"] < 60)
    assert runner.wait(job_id, 120)
    assert store.jobs.get(job_id).totals["done"] == 60 and moved_exactly_once(prefect, plan) == 60


def test_resume_refuses_an_unknown_id_and_a_second_resume_at_once(prefect: Prefect, store: Store) -> None:
    with pytest.raises(UnknownJob, match="not a job id"):
        jobs.resume_plan(store, "nope")
    with pytest.raises(UnknownJob, match="No job"):
        jobs.resume_plan(store, "00000000-0000-0000-0000-000000000000")
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 3)
    plan = shift_plan(prefect, deployment)
    job = jobs.submit(store, plan, actor="ana")
    # recorded and owned by this (live) process: running, so not resumable
    with pytest.raises(JobBusy, match="is running"):
        jobs.claim_for_resume(store, job.job_id, actor="bob")
    store.jobs.finish(job.job_id, job.owner, INTERRUPTED, duration_s=0, concurrency=None)
    first = jobs.claim_for_resume(store, job.job_id, actor="bob")
    assert first is not None
    with pytest.raises(JobBusy):
        jobs.claim_for_resume(store, job.job_id, actor="carol")
    report = prefect.run(jobs.apply_resumption, first, actor="bob")
    assert report.totals["done"] == 3 and store.jobs.get(job.job_id).status == "done"


def test_a_job_whose_owner_is_gone_is_interrupted(store: Store, prefect: Prefect) -> None:
    from sqlalchemy import update

    from runops.store.db import jobs as jobs_table

    deployment = prefect.deployment()
    prefect.late_runs(deployment, 2)
    job = jobs.submit(store, shift_plan(prefect, deployment), actor="ana")
    assert store.jobs.get(job.job_id).status == RUNNING
    with store.jobs.engine.begin() as conn:  # a pid on this host that does not exist
        conn.execute(update(jobs_table).values(owner=f"{job.owner.split(':')[0]}:999999999:dead"))
    assert store.jobs.get(job.job_id).status == INTERRUPTED
    with store.jobs.engine.begin() as conn:  # another host that stopped beating a minute ago
        conn.execute(update(jobs_table).values(owner="elsewhere:1:x", heartbeat=0.0))
    assert store.jobs.get(job.job_id).status == INTERRUPTED
    assert UUID(job.job_id)


class LoseThenDown(Passthrough):
    """The first state change reaches the server but its answer is lost; then the API is gone."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "set_state" in request.url.path:
            self.sent += 1
            if self.sent > 1:
                raise httpx.ConnectError("connection refused (injected fault)", request=request)
            response = await super().handle_async_request(request)
            await response.aread()
            raise httpx.ReadError(
                "connection reset while reading the answer (injected fault)", request=request
            )
        return await super().handle_async_request(request)


def test_a_resumed_cancel_counts_what_a_lost_answer_did_as_done(prefect: Prefect, store: Store) -> None:
    """The first try cancelled the runs but its answer was lost and the API went away: the job
    failed. Its resume finds the runs as this job leaves them: done, not "already finished"."""
    from prefect.states import Scheduled

    from runops.engine.selection import RunSelection
    from runops.features import cancel
    from tests.factories import later

    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=2)) for _ in range(5)])
    request = cancel.CancelRequest(RunSelection(states=("Scheduled",), deployments=(deployment.full_name,)))
    plan = prefect.run(cancel.plan_cancel, request)
    fault = LoseThenDown()

    async def first_try() -> object:
        async with open_client(prefect.settings, fault) as client:
            return await cancel.apply_cancel(
                client, plan, actor="ana", store=store, options=ApplyOptions(attempts=2, backoff_s=0.01)
            )

    report = run_sync(first_try)
    assert report.totals["failed"] == 5 and report.status == "failed"  # type: ignore[attr-defined]
    states = [prefect.read(r.id).state_name for r in runs]
    assert sorted(states) == [
        "Cancelled",
        "Scheduled",
        "Scheduled",
        "Scheduled",
        "Scheduled",
    ]  # one did happen

    resumed = prefect.run(jobs.resume, store, report.job_id, actor="ana")  # type: ignore[attr-defined]
    assert resumed is not None
    assert resumed.totals == {"done": 5, "skipped": 0, "failed": 0, "not_attempted": 0}
    assert [r.reason for r in resumed.results].count("confirmed on re-read") == 1
    assert {prefect.read(r.id).state_name for r in runs} == {"Cancelled"}
    assert store.jobs.get(resumed.job_id or "").status == "done"
