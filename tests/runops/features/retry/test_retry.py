"""Retry failed runs against a real Prefect server: stored states re-read after each action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect.states import Cancelled, Completed, Crashed, Failed, Running, Scheduled

from runops.engine.plan import DONE, SKIP, SKIPPED
from runops.errors import BadInput
from runops.features import retry
from runops.settings import Settings
from runops.store import Store
from tests.factories import Prefect, ago, finished_runs, later
from tests.faults import LosesAnswers


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.sqlite")


def states_of(prefect: Prefect, ids) -> dict[UUID, str | None]:
    return {i: (r.state.name if r else None) for i, r in prefect.read_many(list(ids)).items()}


def failed_at(prefect: Prefect, deployment, ends: list[datetime], state=Failed, **kwargs):
    """Runs that failed at the given end times (backdated on the server)."""
    rows = [(state(), end - timedelta(minutes=10), end - timedelta(minutes=5), end) for end in ends]
    return finished_runs(prefect, deployment, rows, **kwargs)


def test_failed_and_crashed_go_back_to_scheduled_in_place(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment(work_pool="retry-pool")
    other = prefect.deployment()
    params = {"day": "2026-12-01", "n": 3}
    runs = prefect.runs(
        deployment,
        [Failed(), Crashed(), Completed(), Cancelled(), Running()],
        tags=["nightly"],
        parameters=params,
        job_variables={"env": {"A": "1"}},
    )
    failed, crashed, completed, cancelled, running = (r.id for r in runs)
    elsewhere = prefect.runs(other, [Failed()])[0].id

    plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,)))
    assert {i.run_id: i.action for i in plan.items} == {failed: retry.RETRY, crashed: retry.RETRY}
    report = prefect.run(retry.apply_retry, plan, actor="lead", store=store, reason="INC-1")

    assert sorted(r.outcome for r in report.results) == [DONE, DONE]
    now = prefect.read_many([failed, crashed, completed, cancelled, running, elsewhere])
    for run_id in (failed, crashed):
        run = now[run_id]
        assert run.state.name == "Scheduled" and run.id == run_id
        assert (
            run.parameters == params and run.tags == ["nightly"] and run.job_variables == {"env": {"A": "1"}}
        )
        assert run.state.state_details.scheduled_time <= datetime.now(UTC)
    assert now[completed].state.name == "Completed"
    assert now[cancelled].state.name == "Cancelled"  # Cancelled is off by default
    assert now[running].state.name == "Running"
    assert now[elsewhere].state.name == "Failed"
    job = store.jobs.get(report.job_id)
    assert job.status == "done" and job.reason == "INC-1"
    assert [r.outcome for r in store.jobs.runs(report.job_id)] == [DONE, DONE]


def test_cancelled_when_chosen_and_runs_without_deployment_are_skipped(
    prefect: Prefect, store: Store
) -> None:
    deployment = prefect.deployment()
    cancelled = prefect.runs(deployment, [Cancelled()])[0].id
    flow = deployment.flow

    async def adhoc(client):
        from prefect import flow as flow_decorator

        run = await client.create_flow_run(
            flow_decorator(lambda: None, name=flow), state=Failed(), tags=[flow]
        )
        return run.id

    loose = prefect.harness(adhoc)
    request = retry.RetryRequest(states=("cancelled", "Failed"), flows=(flow,))
    plan = prefect.run(retry.plan_retry, request)
    by_id = {i.run_id: i for i in plan.items}
    assert by_id[cancelled].action == retry.RETRY
    assert by_id[loose].action == SKIP and by_id[loose].reason == retry.NO_DEPLOYMENT
    prefect.run(retry.apply_retry, plan, actor="lead", store=store)
    assert states_of(prefect, [cancelled, loose]) == {cancelled: "Scheduled", loose: "Failed"}


def test_spread_oldest_first_and_at(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    runs = failed_at(prefect, deployment, [ago(hours=1), ago(hours=5), ago(hours=3)])
    # whole seconds: the midpoint of two times with odd microseconds rounds on the server
    start, end = (later(hours=h).replace(microsecond=0) for h in (1, 3))
    plan = prefect.run(
        retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,), spread=(start, end))
    )
    prefect.run(retry.apply_retry, plan, actor="lead", store=store)
    stored = prefect.read_many([r.id for r in runs])
    times = {i: r.next_scheduled_start_time for i, r in stored.items()}
    newest, oldest, middle = (r.id for r in runs)
    assert times[oldest] == start and times[middle] == start + (end - start) / 2 and times[newest] == end
    assert all(r.state.name == "Scheduled" for r in stored.values())

    again = failed_at(prefect, deployment, [ago(minutes=30)])
    at = later(hours=6)
    plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,), at=at))
    assert [i.run_id for i in plan.to_change] == [again[0].id]  # the others are Scheduled now
    prefect.run(retry.apply_retry, plan, actor="lead", store=store)
    assert prefect.read(again[0].id).next_scheduled_start_time == at


def test_latest_per_deployment_picks_the_newest(prefect: Prefect, store: Store) -> None:
    nightly, hourly = prefect.deployment(), prefect.deployment()
    three_nights = failed_at(prefect, nightly, [ago(hours=20), ago(hours=2), ago(hours=10)])
    two = failed_at(prefect, hourly, [ago(hours=1), ago(hours=4)], state=Crashed)
    request = retry.RetryRequest(
        deployments=(nightly.full_name, hourly.full_name), latest_per_deployment=True
    )
    plan = prefect.run(retry.plan_retry, request)
    chosen = {i.run_id for i in plan.to_change}
    assert chosen == {three_nights[1].id, two[0].id}
    assert {i.reason for i in plan.items if i.action == SKIP} == {retry.NEWER_RETRIED}
    prefect.run(retry.apply_retry, plan, actor="lead", store=store)
    after = states_of(prefect, [r.id for r in three_nights + two])
    assert after == {
        three_nights[0].id: "Failed",
        three_nights[1].id: "Scheduled",
        three_nights[2].id: "Failed",
        two[0].id: "Scheduled",
        two[1].id: "Crashed",
    }


def test_runs_changed_since_the_preview_are_skipped(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    retried, again, deleted, kept = (r.id for r in prefect.runs(deployment, [Failed()] * 4))
    plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,)))
    assert len(plan.to_change) == 4
    # someone else retries one; another is retried, runs and fails again; a third is deleted
    prefect.set_state(retried, Scheduled(), force=False)
    for state in (Scheduled(), Running(), Failed()):
        prefect.set_state(again, state, force=False)

    async def delete(client):
        await client.delete_flow_run(deleted)

    prefect.harness(delete)
    report = prefect.run(retry.apply_retry, plan, actor="lead", store=store)
    by_id = {r.run_id: r for r in report.results}
    assert by_id[kept].outcome == DONE
    assert by_id[retried].outcome == SKIPPED and "retried meanwhile" in by_id[retried].reason
    assert by_id[again].outcome == SKIPPED and "since the preview" in by_id[again].reason
    assert by_id[deleted].outcome == SKIPPED and by_id[deleted].reason == "deleted meanwhile"
    assert states_of(prefect, [retried, again, deleted, kept]) == {
        retried: "Scheduled",
        again: "Failed",  # not retried a second time
        deleted: None,
        kept: "Scheduled",
    }


def test_a_lost_answer_is_recognised_not_repeated(prefect: Prefect, settings: Settings, store: Store) -> None:
    deployment = prefect.deployment()
    ids = [r.id for r in prefect.runs(deployment, [Failed()] * 3)]
    plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,)))
    from runops.prefect_api.client import call

    report = call(settings, retry.apply_retry, plan, actor="lead", store=store, transport=LosesAnswers(1))
    assert [r.outcome for r in report.results] == [DONE] * 3, [r.reason for r in report.results]
    assert set(states_of(prefect, ids).values()) == {"Scheduled"}
    for run_id in ids:  # one Scheduled state each: the lost request was not applied twice
        history = prefect.harness(lambda c, i=run_id: c.read_flow_run_states(i))
        assert [s.name for s in history].count("Scheduled") == 1


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"deployments": ("no-such-deployment-xyz",)}, "Unknown deployment"),
        ({"ended_after": "now-2h", "ended_before": "now-3h"}, "ends before it starts"),
        ({"states": ("Running",)}, "Only finished runs"),
        ({"at": "now-1h"}, "in the past"),
        ({"spread": ("now+2h", "now+1h")}, "must end after"),
        ({"at": "now+1h", "spread": ("now+1h", "now+2h")}, "not both"),
        ({"max_runs": -1}, "above zero"),
    ],
)
def test_bad_input_changes_nothing(prefect: Prefect, kwargs, words: str) -> None:
    deployment = prefect.deployment()
    run = prefect.runs(deployment, [Failed()])[0]
    with pytest.raises(BadInput, match=words):
        request = retry.RetryRequest(**{"deployments": (deployment.full_name,), **kwargs})
        prefect.run(retry.plan_retry, request)
    assert prefect.read(run.id).state.name == "Failed"
