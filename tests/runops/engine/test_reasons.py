"""A job's reason on the real server: in every changed run's state message and the job record;
required mode (RUNOPS_REQUIRE_REASON) refuses before anything is recorded or changed."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelling, Crashed, Failed, Late, Pending, Running, Scheduled
from typer.testing import CliRunner

from runops.cli import app
from runops.engine import jobs
from runops.engine.plan import DONE, Report
from runops.engine.runner import JobRunner
from runops.engine.selection import RunSelection
from runops.errors import BadInput
from runops.features import cancel, late, retry, stuck
from runops.store import Store, default_store
from runops.store.jobs import INTERRUPTED
from tests.factories import Deployment, Prefect, ago, later

ACTOR = "ana@example.com"
REASON = "INC-4711 db failover"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "runops.sqlite")


def message(prefect: Prefect, run_id: UUID) -> str:
    run = prefect.read(run_id)
    assert run is not None and run.state is not None
    return run.state.message or ""


def messages_of_history(prefect: Prefect, run_id: UUID) -> list[tuple[str, str]]:
    """(state name, message) of every state the run had, oldest first."""

    async def read(client: PrefectClient) -> list[tuple[str, str]]:
        return [(s.name or "", s.message or "") for s in await client.read_flow_run_states(run_id)]

    return prefect.harness(read)


def signed(text: str, verb: str) -> bool:
    return text.startswith(f"runops: {verb}") and f" by {ACTOR}: {REASON}" in text


def all_done(report: Report) -> None:
    assert {r.outcome for r in report.results} == {DONE}, report.results


def late_request(deployment: Deployment, **kwargs: object) -> late.RescheduleRequest:
    return late.RescheduleRequest(deployments=(deployment.full_name,), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "policy",
    [{"delay": "6h"}, {"policy": "fixed", "at": "now+1d"}],
    ids=["shift, run by run", "fixed, one bulk call"],
)
def test_late_in_place_and_the_rest_cancelled(prefect: Prefect, store: Store, policy: dict[str, str]) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 4)
    plan = prefect.run(late.plan_reschedule, late_request(deployment, limit=2, remainder="cancel", **policy))
    report = prefect.run(late.apply_reschedule, plan, actor=ACTOR, store=store, reason=REASON)
    all_done(report)
    moved, rest = [r.id for r in runs[:2]], [r.id for r in runs[2:]]
    for run_id in moved:
        assert message(prefect, run_id) == f"runops: rescheduled by {ACTOR}: {REASON}"
    for run_id in rest:  # Late → Cancelling proposed; the server makes them Cancelled itself
        run = prefect.read(run_id)
        assert run is not None and run.state_name == "Cancelled"
        assert message(prefect, run_id) == f"runops: cancelled (late backlog) by {ACTOR}: {REASON}"
    assert store.jobs.get(report.job_id).reason == REASON


def test_late_recreate_signs_each_copy(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    originals = {r.id for r in prefect.late_runs(deployment, 3)}
    plan = prefect.run(late.plan_reschedule, late_request(deployment, delay="12h", mode="recreate"))
    report = prefect.run(late.apply_reschedule, plan, actor=ACTOR, store=store, reason=REASON)
    all_done(report)
    copies = prefect.runs_of(deployment)
    assert len(copies) == 3 and not originals & {c.id for c in copies}
    for result in report.results:
        assert result.replacement_id is not None
        text = message(prefect, result.replacement_id)
        assert signed(text, "rescheduled"), text
        assert f"recreated from late run {result.run_id}" in text
    assert store.jobs.get(report.job_id).reason == REASON


def test_cancel_signs_cancelled_cancelling_and_force_cancelled(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    scheduled, overdue, pending, running = prefect.runs(
        deployment,
        [Scheduled(scheduled_time=later(hours=1)), Late(scheduled_time=ago(hours=1)), Pending(), Running()],
    )
    selection = RunSelection(states=cancel.DEFAULT_STATES, deployments=(deployment.full_name,))
    plan = prefect.run(cancel.plan_cancel, cancel.CancelRequest(selection))
    report = prefect.run(cancel.apply_cancel, plan, actor=ACTOR, store=store, reason=REASON)
    all_done(report)
    after = {r.run_id: r.after for r in report.results}
    assert after == {
        scheduled.id: "Cancelled",
        overdue.id: "Cancelled",
        pending.id: "Cancelling",
        running.id: "Cancelling",
    }
    for run_id in after:
        assert message(prefect, run_id) == f"runops: cancelled by {ACTOR}: {REASON}"
    assert store.jobs.get(report.job_id).reason == REASON

    # nobody stops them: force-cancel what is stuck in Cancelling, with a reason of its own
    stuck_selection = RunSelection(states=("Cancelling",), deployments=(deployment.full_name,))
    forced = prefect.run(cancel.plan_cancel, cancel.CancelRequest(stuck_selection, force_stuck=True))
    report = prefect.run(cancel.apply_cancel, forced, actor=ACTOR, store=store, reason="INC-4712")
    all_done(report)
    for run_id in (pending.id, running.id):
        assert prefect.read(run_id).state_name == "Cancelled"  # type: ignore[union-attr]
        assert (
            message(prefect, run_id) == f"runops: marked cancelled (stuck in Cancelling) by {ACTOR}: INC-4712"
        )


def test_retry_signs_each_run(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    failed, crashed = prefect.runs(deployment, [Failed(), Crashed()])
    plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,)))
    report = prefect.run(retry.apply_retry, plan, actor=ACTOR, store=store, reason=REASON)
    all_done(report)
    for run_id in (failed.id, crashed.id):
        assert prefect.read(run_id).state_name == "Scheduled"  # type: ignore[union-attr]
        assert message(prefect, run_id) == f"runops: retried by {ACTOR}: {REASON}"
    assert store.jobs.get(report.job_id).reason == REASON


def test_stuck_signs_the_mark_and_the_retry(prefect: Prefect, store: Store) -> None:
    from tests.runops.features.stuck.test_stuck import in_state_since

    deployment = prefect.deployment()
    running = in_state_since(prefect, deployment, Running(), ago(hours=3))
    cancelling = in_state_since(prefect, deployment, Cancelling(), ago(hours=1))
    request = stuck.StuckRequest(deployments=(deployment.full_name,), retry=True)
    plan = prefect.run(stuck.plan_stuck, request)
    report = prefect.run(stuck.apply_stuck, plan, actor=ACTOR, store=store, reason=REASON)
    all_done(report)
    for run_id, verb in ((running, "marked crashed"), (cancelling, "marked cancelled")):
        (mark_name, mark), (last_name, last) = messages_of_history(prefect, run_id)[-2:]
        assert mark_name in ("Crashed", "Cancelled") and signed(mark, verb), mark
        assert "(stuck" in mark
        assert (
            last_name == "Scheduled" and last == f"runops: retried (after it was stuck) by {ACTOR}: {REASON}"
        )
    assert store.jobs.get(report.job_id).reason == REASON


def test_a_resume_and_the_dashboard_runner_sign_with_the_jobs_reason(prefect: Prefect, store: Store) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 3)
    plan = prefect.run(late.plan_reschedule, late_request(deployment, delay="6h"))
    job = jobs.submit(store, plan, actor=ACTOR, reason=REASON)
    store.jobs.finish(job.job_id, job.owner, INTERRUPTED, duration_s=0, concurrency=None)  # died at once
    report = prefect.run(jobs.resume, store, job.job_id, actor="bob@example.com")
    assert report is not None
    all_done(report)
    for run in runs:
        assert message(prefect, run.id) == f"runops: rescheduled by bob@example.com: {REASON}"

    failed = prefect.runs(deployment, [Failed()])[0]
    plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,)))
    runner = JobRunner()
    job_id = runner.start(prefect.settings, store, plan, actor=ACTOR, reason=REASON)
    assert runner.wait(job_id, 120)
    assert store.jobs.get(job_id).reason == REASON
    assert message(prefect, failed.id) == f"runops: retried by {ACTOR}: {REASON}"


# -- required mode ---------------------------------------------------------------------------


def unchanged(prefect: Prefect, runs: list[FlowRun]) -> None:
    for run in runs:
        now = prefect.read(run.id)
        assert now is not None and now.state_name == run.state_name
        assert now.next_scheduled_start_time == run.next_scheduled_start_time


def test_required_mode_the_service_refuses_without_a_reason(
    prefect: Prefect, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 2)
    failed = prefect.runs(deployment, [Failed()])
    plan = prefect.run(late.plan_reschedule, late_request(deployment, delay="6h"))
    retry_plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(deployment.full_name,)))
    monkeypatch.setenv("RUNOPS_REQUIRE_REASON", "1")
    with pytest.raises(BadInput, match="RUNOPS_REQUIRE_REASON"):
        jobs.submit(store, plan, actor=ACTOR, reason="  ")
    with pytest.raises(BadInput, match="reason is required"):
        prefect.run(late.apply_reschedule, plan, actor=ACTOR, store=store)
    with pytest.raises(BadInput, match="reason is required"):
        JobRunner().start(prefect.settings, store, retry_plan, actor=ACTOR)
    assert store.jobs.list() == [] and store.audit.operations() == []
    unchanged(prefect, [*runs, *failed])

    # with one it goes ahead
    report = prefect.run(late.apply_reschedule, plan, actor=ACTOR, store=store, reason=REASON)
    all_done(report)
    assert [j.reason for j in store.jobs.list()] == [REASON]


def test_required_mode_a_job_recorded_without_a_reason_can_still_be_resumed(
    prefect: Prefect, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 2)
    plan = prefect.run(late.plan_reschedule, late_request(deployment, delay="6h"))
    job = jobs.submit(store, plan, actor=ACTOR)  # before the mode was switched on
    store.jobs.finish(job.job_id, job.owner, INTERRUPTED, duration_s=0, concurrency=None)
    monkeypatch.setenv("RUNOPS_REQUIRE_REASON", "1")
    report = prefect.run(jobs.resume, store, job.job_id, actor=ACTOR)
    assert report is not None
    all_done(report)


def test_required_mode_the_cli_exits_2_and_changes_nothing(
    prefect: Prefect, tmp_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 2)
    failed = prefect.runs(deployment, [Failed()])
    monkeypatch.setenv("RUNOPS_REQUIRE_REASON", "1")
    cli = CliRunner()
    d = deployment.full_name
    for verb in (
        ["late", "reschedule", "-d", d, "--delay", "6h"],
        ["cancel", "-d", d],
        ["retry", "-d", d],
        ["stuck", "clear", "-d", d],
        ["late", "reschedule", "-d", d, "--delay", "6h", "--reason", "   "],
    ):
        result = cli.invoke(app, [*verb, "--yes"])
        assert result.exit_code == 2, (verb, result.output)
        assert "A reason is required" in result.stderr and "--reason TEXT" in result.stderr
    assert default_store(tmp_home).jobs.list() == []
    unchanged(prefect, [*runs, *failed])

    dry = cli.invoke(app, ["cancel", "-d", d, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    unchanged(prefect, [*runs, *failed])

    done = cli.invoke(app, ["cancel", "-d", d, "--reason", REASON, "--yes", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["reason"] == REASON
    [job] = default_store(tmp_home).jobs.list()
    assert job.reason == REASON
    for run in runs:
        assert message(prefect, run.id).endswith(f": {REASON}") and "runops: cancelled by os:" in message(
            prefect, run.id
        )
