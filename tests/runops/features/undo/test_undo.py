"""Undo against a real Prefect server: runs put back only if still as the job left them, re-read after."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect.states import Crashed, Late, Running, Scheduled

from runops.engine import jobs
from runops.engine.apply import ApplyOptions
from runops.engine.execute import StopSignal
from runops.engine.plan import DONE, SKIP, Plan, Report
from runops.engine.selection import RunSelection
from runops.errors import BadInput
from runops.features import cancel, late, retry, undo
from runops.store import Store
from runops.store.jobs import STOPPED
from tests.factories import Deployment, Prefect, ago, later
from tests.runops.features.retry.test_retry import failed_at

SLACK = timedelta(seconds=1)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.sqlite")


def rescheduled(prefect: Prefect, store: Store, n: int = 20) -> tuple[Deployment, Report, Plan]:
    """`n` late runs (all less than 6 h late) moved +6h by a runops job."""
    deployment = prefect.deployment()
    prefect.runs(deployment, lambda i: Late(scheduled_time=ago(minutes=10 + 10 * i)), n)
    plan = prefect.run(late.plan_reschedule, late.RescheduleRequest((deployment.full_name,), delay="6h"))
    report = prefect.run(late.apply_reschedule, plan, actor="ana", store=store)
    assert report.totals[DONE] == n
    return deployment, report, plan


def messages(prefect: Prefect, run_id: UUID) -> list[str]:
    states = prefect.harness(lambda client: client.read_flow_run_states(run_id))
    return [s.message or "" for s in states]


def undo_of(prefect: Prefect, store: Store, job_id: str) -> Plan:
    return prefect.run(undo.plan_undo, undo.UndoRequest(job_id, store))


def test_undo_of_a_reschedule_puts_back_every_run_still_as_the_job_left_it(
    prefect: Prefect, store: Store
) -> None:
    _, report, original = rescheduled(prefect, store)
    started = original.items[3].run_id
    prefect.set_state(started, Running())

    plan = undo_of(prefect, store, report.job_id)
    assert plan.action == undo.ACTION and f"undo of job {report.job_id}" in plan.selection
    assert plan.counts() == {undo.MOVE_BACK: 19, SKIP: 1}
    [skipped] = [i for i in plan.items if i.action == SKIP]
    assert skipped.run_id == started and "started or finished since the job: now Running" in skipped.reason
    done = prefect.run(undo.apply_undo, plan, actor="bo", store=store, reason="INC-9 wrong deployment")
    assert done.totals[DONE] == 19 and done.job_id

    now = prefect.read_many([i.run_id for i in original.items])
    for item in original.items:
        run = now[item.run_id]
        assert run is not None and run.id == item.run_id
        if item.run_id == started:
            assert run.state.name == "Running"  # untouched
            continue
        assert run.state_type.value == "SCHEDULED", (run.name, run.state_name)
        assert abs(run.next_scheduled_start_time - item.scheduled_time) <= SLACK
        # the undo's Scheduled (the server may have marked the run Late again since: it was due)
        said = messages(prefect, run.id)
        assert any(f"undo of job {report.job_id}" in m and "by bo: INC-9" in m for m in said), said
    record = store.jobs.get(done.job_id)
    assert record.action == undo.ACTION and report.job_id in record.selection
    assert record.options["undo_of"] == report.job_id

    with pytest.raises(BadInput, match="undoing an undo is not offered"):
        undo_of(prefect, store, done.job_id)
    again = undo_of(prefect, store, report.job_id)  # nothing is as the job left it any more
    assert not again.to_change
    with pytest.raises(BadInput, match="Nothing to undo"):
        undo.check_plan(again)


def test_a_stopped_undo_resumes_without_changing_a_run_twice(prefect: Prefect, store: Store) -> None:
    _, report, original = rescheduled(prefect, store, n=8)
    plan = undo_of(prefect, store, report.job_id)
    job = jobs.submit(store, plan, actor="bo")
    stop = StopSignal()

    def after_three(done: int, _total: int, _result: object) -> None:
        if done >= 3:
            stop.request(STOPPED)

    first = prefect.run(
        jobs.apply_recorded,
        job,
        plan,
        actor="bo",
        progress=after_three,
        stop=stop,
        options=ApplyOptions(concurrency=1),
    )
    assert first.status == STOPPED and 3 <= first.totals[DONE] < 8
    resumed = prefect.run(jobs.resume, store, job.job_id, actor="bo")
    assert resumed is not None and resumed.totals[DONE] == 8
    assert all(r.reason != "confirmed on re-read" for r in resumed.results)
    now = prefect.read_many([i.run_id for i in original.items])
    for item in original.items:
        assert abs(now[item.run_id].next_scheduled_start_time - item.scheduled_time) <= SLACK


def test_undo_of_a_cancel_restores_not_started_runs_and_names_the_stopped_ones(
    prefect: Prefect, store: Store
) -> None:
    deployment = prefect.deployment()
    waiting = prefect.runs(
        deployment,
        [Scheduled(scheduled_time=later(hours=h)) for h in (1, 2, 3)] + [Late(scheduled_time=ago(hours=2))],
    )
    running = prefect.runs(deployment, [Running(), Running()])
    request = cancel.CancelRequest(RunSelection(deployments=(deployment.full_name,)))
    cancelled = prefect.run(cancel.plan_cancel, request)
    report = prefect.run(cancel.apply_cancel, cancelled, actor="ana", store=store)
    assert report.totals[DONE] == 6
    before = {i.run_id: i.scheduled_time for i in cancelled.items}

    plan = undo_of(prefect, store, report.job_id)
    assert plan.counts() == {undo.UNCANCEL: 4, SKIP: 2}
    assert {i.run_id for i in undo.started_runs(plan)} == {r.id for r in running}
    prefect.run(undo.apply_undo, plan, actor="bo", store=store)

    now = prefect.read_many([r.id for r in waiting + running])
    for run in waiting:
        back = now[run.id]
        assert back.state_type.value == "SCHEDULED" and back.id == run.id
        assert abs(back.next_scheduled_start_time - before[run.id]) <= SLACK
    assert {now[r.id].state_name for r in running} <= {"Cancelling", "Cancelled"}


def test_undo_of_a_retry_puts_not_started_runs_back_to_their_final_state(
    prefect: Prefect, store: Store
) -> None:
    deployment = prefect.deployment()
    runs = failed_at(prefect, deployment, [ago(minutes=30), ago(minutes=20), ago(minutes=10)])
    runs += failed_at(prefect, deployment, [ago(minutes=5)], state=Crashed)
    request = retry.RetryRequest(deployments=(deployment.full_name,), at=later(hours=1))
    retried = prefect.run(retry.plan_retry, request)
    report = prefect.run(retry.apply_retry, retried, actor="ana", store=store)
    assert report.totals[DONE] == 4
    prefect.set_state(runs[0].id, Running())  # its worker took it: the retry stands

    plan = undo_of(prefect, store, report.job_id)
    assert plan.counts() == {undo.UNRETRY: 3, SKIP: 1}
    prefect.run(undo.apply_undo, plan, actor="bo", store=store)
    now = prefect.read_many([r.id for r in runs])
    assert now[runs[0].id].state_name == "Running"
    for run in runs[1:]:
        back = now[run.id]
        assert back.state_type == run.state_type and back.state_name == run.state_name
        assert f"undo of job {report.job_id}" in back.state.message
