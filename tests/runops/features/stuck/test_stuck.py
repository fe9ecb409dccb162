"""Stuck runs against a real Prefect server: detection on backdated runs with known durations, clearing, races."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect.states import Cancelling, Completed, Pending, Running

from runops.dev.backdate import RunTimes
from runops.engine.plan import DONE, SKIP, SKIPPED
from runops.errors import BadInput
from runops.features import stuck
from runops.store import Store
from tests.factories import Prefect, ago, finished_runs, unique


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.sqlite")


def with_history(prefect: Prefect, minutes: list[float], pool: str | None = None):
    """A deployment whose completed runs took these many minutes each (backdated)."""
    deployment = prefect.deployment(work_pool=pool)
    rows = []
    for i, m in enumerate(minutes):
        start = ago(days=1, hours=i)
        rows.append((Completed(), start, start, start + timedelta(minutes=m)))
    finished_runs(prefect, deployment, rows)
    return deployment


def in_state_since(prefect: Prefect, deployment, state, since: datetime) -> UUID:
    """A run in `state` whose state (and start) is backdated to `since`."""
    cancelling = state.name == "Cancelling"
    run = prefect.runs(deployment, [Running() if cancelling else state])[0]
    if cancelling:  # as a worker's cancel leaves it: Running, then Cancelling proposed
        prefect.set_state(run.id, Cancelling(), force=False)
    prefect.backdate([RunTimes(run.id, since, since)])
    return run.id


def test_detection_against_known_durations(prefect: Prefect) -> None:
    pool = unique("stuck-pool")
    # p95 of 19 runs of 10 min and one of 20 min is 10.5 min: 3 × that is 31.5 min
    usual = with_history(prefect, [10.0] * 19 + [20.0], pool=pool)
    young = prefect.deployment(work_pool=pool)  # no history: the fixed 2h applies
    over = in_state_since(prefect, usual, Running(), ago(minutes=45))
    under = in_state_since(prefect, usual, Running(), ago(minutes=25))
    pending_over = in_state_since(prefect, usual, Pending(), ago(minutes=40))
    young_over = in_state_since(prefect, young, Running(), ago(hours=3))
    young_under = in_state_since(prefect, young, Running(), ago(hours=1))
    cancelling_over = in_state_since(prefect, young, Cancelling(), ago(minutes=20))
    cancelling_under = in_state_since(prefect, young, Cancelling(), ago(minutes=5))

    request = stuck.StuckRequest(deployments=(usual.full_name, young.full_name))
    findings = prefect.run(stuck.find_stuck, request)
    found = {r.run_id: r for r in findings.stuck}
    assert set(found) == {over, pending_over, young_over, cancelling_over}
    assert findings.checked == 7
    assert found[over].usual.runs == 20
    assert found[over].usual.p95 == timedelta(minutes=10.5)
    assert found[over].limit == timedelta(minutes=31.5)
    assert found[over].action == stuck.MARK_CRASHED and found[pending_over].action == stuck.MARK_CRASHED
    assert found[young_over].limit == timedelta(hours=2) and "no completed runs" in found[young_over].basis
    assert found[cancelling_over].action == stuck.MARK_CANCELLED
    assert timedelta(minutes=44) < found[over].in_state < timedelta(minutes=47)
    assert found[over].work_pool == pool and found[over].worker_words == "no live worker"
    assert not found[over].pool.live
    # a larger k: 45 min is no longer 5 × 10.5 min; the fixed age and Cancelling rule are unchanged
    wider = prefect.run(stuck.find_stuck, stuck.StuckRequest(deployments=(usual.full_name,), k=5))
    assert {r.run_id for r in wider.stuck} == set()
    assert under not in found and young_under not in found and cancelling_under not in found


def test_a_heartbeating_worker_makes_the_pool_live(prefect: Prefect) -> None:
    pool = unique("live-pool")
    deployment = prefect.deployment(work_pool=pool)
    run_id = in_state_since(prefect, deployment, Running(), ago(hours=3))
    prefect.harness(lambda c: c.send_worker_heartbeat(pool, "worker-1", heartbeat_interval_seconds=30))
    findings = prefect.run(stuck.find_stuck, stuck.StuckRequest(deployments=(deployment.full_name,)))
    (run,) = findings.stuck
    assert run.run_id == run_id and run.pool.live and run.worker_words == "1 live worker(s)"
    plan = stuck.plan_from(findings)
    assert stuck.LIVE_WORKER in plan.warnings and stuck.FORCE_WARNING in plan.warnings


def test_clear_marks_crashed_and_cancelled_and_leaves_the_rest(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    running = in_state_since(prefect, deployment, Running(), ago(hours=3))
    pending = in_state_since(prefect, deployment, Pending(), ago(hours=4))
    cancelling = in_state_since(prefect, deployment, Cancelling(), ago(hours=1))
    finishes = in_state_since(prefect, deployment, Running(), ago(hours=5))
    left = in_state_since(prefect, deployment, Running(), ago(hours=6))
    fresh = in_state_since(prefect, deployment, Running(), ago(minutes=5))
    findings = prefect.run(stuck.find_stuck, stuck.StuckRequest(deployments=(deployment.full_name,)))
    plan = stuck.plan_from(findings, skip=[left])
    assert {i.run_id: i.action for i in plan.items}[left] == SKIP
    # between the preview and the apply one run finishes after all: it is left as it is
    prefect.set_state(finishes, Completed(), force=False)
    report = prefect.run(stuck.apply_stuck, plan, actor="lead", store=store)
    by_id = {r.run_id: r for r in report.results}
    assert by_id[finishes].outcome == SKIPPED and "Completed" in by_id[finishes].reason
    assert all(by_id[i].outcome == DONE for i in (running, pending, cancelling))
    stored = prefect.read_many([running, pending, cancelling, finishes, left, fresh])
    assert {i: r.state.name for i, r in stored.items()} == {
        running: "Crashed",
        pending: "Crashed",
        cancelling: "Cancelled",
        finishes: "Completed",
        left: "Running",
        fresh: "Running",
    }
    assert "stuck" in stored[running].state.message
    assert store.jobs.get(report.job_id).status == "done"


def test_a_running_run_can_be_marked_cancelled_instead_of_crashed(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    crashed = in_state_since(prefect, deployment, Running(), ago(hours=3))
    cancelled = in_state_since(prefect, deployment, Running(), ago(hours=4))
    cancelling = in_state_since(prefect, deployment, Cancelling(), ago(hours=1))
    findings = prefect.run(stuck.find_stuck, stuck.StuckRequest(deployments=(deployment.full_name,)))
    # a Cancelling run is only ever marked Cancelled, whatever is chosen for it
    plan = stuck.plan_from(findings, cancel_instead=[cancelled, cancelling])
    actions = {i.run_id: i.action for i in plan.items}
    assert actions == {
        crashed: stuck.MARK_CRASHED,
        cancelled: stuck.MARK_CANCELLED,
        cancelling: stuck.MARK_CANCELLED,
    }
    assert "or Cancelled where chosen" in plan.policy
    report = prefect.run(stuck.apply_stuck, plan, actor="lead", store=store)
    assert all(r.outcome == DONE for r in report.results), report.results
    stored = prefect.read_many([crashed, cancelled, cancelling])
    assert {i: r.state.name for i, r in stored.items()} == {
        crashed: "Crashed",
        cancelled: "Cancelled",
        cancelling: "Cancelled",
    }
    recorded = {run.item.run_id: run.item.action for run in store.jobs.runs(report.job_id)}
    assert recorded == actions


def test_clear_with_retry_schedules_them_again(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    params = {"x": 7}
    run = prefect.runs(deployment, [Running()], parameters=params)[0]
    prefect.backdate([RunTimes(run.id, ago(hours=3), ago(hours=3))])
    cancelling = in_state_since(prefect, deployment, Cancelling(), ago(hours=1))
    request = stuck.StuckRequest(deployments=(deployment.full_name,), retry=True)
    plan = prefect.run(stuck.plan_stuck, request)
    report = prefect.run(stuck.apply_stuck, plan, actor="lead", store=store)
    assert all(r.outcome == DONE and r.after == "Scheduled" for r in report.results), report.results
    for run_id in (run.id, cancelling):
        now = prefect.read(run_id)
        assert now.state.name == "Scheduled" and now.state.timestamp > datetime.now(UTC) - timedelta(
            minutes=5
        )
        names = [s.name for s in prefect.harness(lambda c, i=run_id: c.read_flow_run_states(i))]
        assert names[-2:] in (["Crashed", "Scheduled"], ["Cancelled", "Scheduled"])
    assert prefect.read(run.id).parameters == params


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"k": 0}, "more than zero"),
        ({"k": -2}, "more than zero"),
        ({"older_than": "-1h"}, "fixed age"),
        ({"cancelling_for": "soon"}, "Cancelling"),
        ({"deployments": ("no-such-deployment-xyz",)}, "Unknown deployment"),
    ],
)
def test_bad_input_changes_nothing(prefect: Prefect, kwargs, words: str) -> None:
    deployment = prefect.deployment()
    run_id = in_state_since(prefect, deployment, Running(), ago(hours=5))
    with pytest.raises(BadInput, match=words):
        request = stuck.StuckRequest(**{"deployments": (deployment.full_name,), **kwargs})
        prefect.run(stuck.plan_stuck, request)
    assert prefect.read(run_id).state.name == "Running"
