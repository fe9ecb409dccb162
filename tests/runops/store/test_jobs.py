"""The job store on both databases: a frozen plan round-trips, answers are journaled, one claim wins."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from runops.engine.plan import NOT_ATTEMPTED, Plan, PlannedRun, RunResult
from runops.store import Store
from runops.store.jobs import DONE, INTERRUPTED, RUNNING, STOPPED, JobBusy, UnknownJob


def a_plan(n: int = 5) -> Plan:
    now = datetime.now(UTC).replace(microsecond=123000)
    items = tuple(
        PlannedRun(
            uuid4(),
            f"run-{i}",
            "flow/deploy",
            "Late",
            "reschedule" if i else "skip",
            scheduled_time=now - timedelta(hours=i + 1),
            new_time=now + timedelta(hours=6 - i) if i else None,
            reason="" if i else "already finished",
            warnings=("new time is in the past",) if i == 3 else (),
            flow="flow",
            state_type="SCHEDULED",
        )
        for i in range(n)
    )
    return Plan(
        "reschedule late runs",
        "deployment flow/deploy",
        items,
        "shift 6h",
        matched=n,
        options={"states": ["Late"]},
    )


def answer(item: PlannedRun, outcome: str, reason: str = "") -> RunResult:
    return RunResult(
        item.run_id, item.name, item.deployment, item.action, item.state, "Scheduled", outcome, reason
    )


def test_a_plan_round_trips_and_answers_are_journaled(store: Store) -> None:
    plan = a_plan()
    job_id, owner = store.jobs.create(plan, actor="ana", reason="INC-9", api_url="http://x/api")
    assert store.jobs.plan(job_id) == plan  # every field: times to the microsecond, uid, options
    job = store.jobs.get(job_id)
    assert job.status == RUNNING and job.planned == 5 and job.answered == 0 and job.reason == "INC-9"

    store.jobs.journal(job_id, [answer(plan.items[0], "skipped"), answer(plan.items[1], DONE)])
    job = store.jobs.get(job_id)
    assert job.answered == 2 and job.totals == {"done": 1, "skipped": 1, "failed": 0, "not_attempted": 0}
    assert [r.outcome for r in store.jobs.runs(job_id)] == ["skipped", DONE, None, None, None]

    # a Stop reaches the owner through its heartbeat; the owner ends the job
    assert store.jobs.request_stop(job_id)
    assert store.jobs.heartbeat(job_id, owner) == (True, STOPPED)
    store.jobs.journal(job_id, [answer(i, NOT_ATTEMPTED, "stopped") for i in plan.items[2:]])
    assert store.jobs.finish(job_id, owner, STOPPED, duration_s=1.5, concurrency=2)
    job = store.jobs.get(job_id)
    assert job.status == STOPPED and job.finished is not None and job.duration_s == 1.5
    assert job.totals["not_attempted"] == 3 and job.open_runs == 3
    assert not store.jobs.request_stop(job_id)  # not running: nothing to stop
    assert [j.id for j in store.jobs.list()] == [job_id]
    assert store.jobs.list(status=RUNNING) == []


def test_one_of_several_claims_wins_and_the_old_owner_loses_its_lease(store: Store) -> None:
    plan = a_plan()
    job_id, owner = store.jobs.create(plan, actor="ana")
    with pytest.raises(JobBusy):
        store.jobs.claim(job_id)  # its owner (this process) is alive and beating
    store.jobs.finish(job_id, owner, INTERRUPTED, duration_s=0, concurrency=None)

    won: list[str] = []
    refused: list[Exception] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        try:
            won.append(store.jobs.claim(job_id)[1])
        except JobBusy as exc:
            refused.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 3
    job = store.jobs.get(job_id)
    assert job.status == RUNNING and job.owner == won[0] and job.attempts == 2
    assert store.jobs.heartbeat(job_id, owner) == (False, None)  # the old owner must stop
    assert not store.jobs.finish(job_id, owner, DONE, duration_s=0, concurrency=None)


def test_unknown_ids(store: Store) -> None:
    with pytest.raises(UnknownJob, match="not a job id"):
        store.jobs.get("42")
    with pytest.raises(UnknownJob, match="No job"):
        store.jobs.get(str(uuid4()))
