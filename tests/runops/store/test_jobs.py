"""The job store on both databases: a frozen plan round-trips, answers are journaled, one claim wins."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import create_engine, text

from runops.engine.plan import NOT_ATTEMPTED, Plan, PlannedRun, RunResult
from runops.store import Store
from runops.store.db import install
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


def test_a_replacement_and_the_warnings_of_a_change_made_are_kept(store: Store) -> None:
    plan = a_plan()
    job_id, _owner = store.jobs.create(plan, actor="ana", reason="", api_url=None)
    made = uuid4()
    warned = plan.items[3]
    store.jobs.journal(
        job_id,
        [replace(answer(plan.items[1], DONE), replacement_id=made), answer(warned, "skipped")],
    )
    runs = {r.item.run_id: r for r in store.jobs.runs(job_id)}
    assert runs[plan.items[1].run_id].as_json()["replacement_id"] == str(made)
    assert runs[warned.run_id].warning == ""  # skipped: nothing was changed, nothing to warn of
    store.jobs.journal(job_id, [answer(warned, DONE)])
    assert store.jobs.runs(job_id)[3].as_json()["warning"] == "new time is in the past"


def test_a_store_of_the_first_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    engine = create_engine(f"sqlite:///{path}")  # not the store's cached engine: a store of another day
    install(engine)
    with engine.begin() as conn:  # as the first schema left it: no replacement column, version 1
        conn.execute(text("ALTER TABLE job_runs DROP COLUMN replacement_id"))
        conn.execute(text("UPDATE runops_schema SET version = 1"))
    engine.dispose()
    store = Store(path)
    plan = a_plan(2)
    job_id, _owner = store.jobs.create(plan, actor="ana", reason="", api_url=None)
    store.jobs.journal(job_id, [replace(answer(plan.items[1], DONE), replacement_id=plan.items[0].run_id)])
    assert store.jobs.runs(job_id)[1].replacement_id == str(plan.items[0].run_id)
    with create_engine(f"sqlite:///{path}").connect() as conn:
        assert conn.execute(text("SELECT version FROM runops_schema")).scalar() == 2


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
