"""An in-place reschedule leaves the deployment's regular schedule as it would have been, with
Prefect's real scheduler service running (short loop settings), not a model of it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.schedules import IntervalSchedule

from runops.dev.server import LocalPrefectServer
from runops.features import late
from runops.prefect_api.client import call
from runops.settings import Settings
from runops.store import Store

EVERY = timedelta(seconds=5)
SCHEDULER = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME": "PT15S",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "2",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "50",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "2",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS": "PT1S",
}


@pytest.fixture(scope="module")
def scheduling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A server of its own with the scheduler and late-runs services on short loops."""
    home = tmp_path_factory.mktemp("scheduling")
    with LocalPrefectServer(home, ui=False, services=True, extra_env=SCHEDULER) as server:
        yield Settings(api_url=server.api_url, home=home)


async def _make(client: PrefectClient, flow: str = "every-5s") -> tuple[str, str]:
    flow_id = await client.create_flow_from_name(flow)
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    deployment_id = await client.create_deployment(
        flow_id=flow_id,
        name="regular",
        schedules=[DeploymentScheduleCreate(schedule=IntervalSchedule(interval=EVERY, anchor_date=anchor))],
    )
    return str(deployment_id), f"{flow}/regular"


async def _runs(client: PrefectClient, deployment_id: str) -> list[FlowRun]:
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])),
        limit=200,
    )


def test_moving_schedule_made_runs_ahead_keeps_every_regular_run(
    scheduling: Settings, tmp_path: Path
) -> None:
    deployment_id, name = call(scheduling, _make)
    # no worker: the scheduler's runs come due and are marked Late
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        late_runs = [r for r in call(scheduling, _runs, deployment_id) if r.state_name == "Late"]
        if len(late_runs) >= 3:
            break
        time.sleep(1)
    assert len(late_runs) >= 3, "the scheduler and the late-runs service made Late runs"

    target = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=75)
    request = late.RescheduleRequest(deployments=(name,), policy="fixed", at=target)
    plan = call(scheduling, late.plan_reschedule, request)
    assert all(late_runs_warned(item.warnings) for item in plan.to_change)
    moved_at = datetime.now(UTC)
    report = call(scheduling, late.apply_reschedule, plan, actor="t", store=Store(tmp_path / "s.sqlite"))
    assert report.totals["done"] == len(plan.to_change) >= 3
    assert any("regular schedule goes on" in note for note in report.notes), report.notes

    time.sleep(8)  # a few scheduler loops
    runs = call(scheduling, _runs, deployment_id)
    moved = {i.run_id for i in plan.to_change}
    regular = [r for r in runs if r.id not in moved and r.auto_scheduled]
    slots = sorted(r.expected_start_time for r in regular if r.expected_start_time)
    # every 5-second slot from the move to the moved time has exactly one regular run
    first = moved_at + EVERY
    want = [s for s in _slots(first, target) if s > moved_at + timedelta(seconds=5)]
    have = [s for s in slots if want and want[0] <= s <= want[-1]]
    assert have == want, (len(have), len(want))
    for item in plan.to_change:  # and the moved runs are where they were moved, once
        stored = next(r for r in runs if r.id == item.run_id)
        assert stored.state_name == "Scheduled" and stored.next_scheduled_start_time == target


def test_recreated_copies_are_manual_runs_and_the_schedule_goes_on(
    scheduling: Settings, tmp_path: Path
) -> None:
    deployment_id, name = call(scheduling, _make, "every-5s-recreate")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        late_runs = [r for r in call(scheduling, _runs, deployment_id) if r.state_name == "Late"]
        if len(late_runs) >= 3:
            break
        time.sleep(1)
    assert len(late_runs) >= 3, "the scheduler and the late-runs service made Late runs"

    target = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=75)
    request = late.RescheduleRequest(deployments=(name,), policy="fixed", at=target, mode="recreate")
    plan = call(scheduling, late.plan_reschedule, request)
    assert not any(late_runs_warned(item.warnings) for item in plan.to_change)  # copies: not schedule-made
    moved_at = datetime.now(UTC)
    report = call(scheduling, late.apply_reschedule, plan, actor="t", store=Store(tmp_path / "r.sqlite"))
    assert report.totals["done"] == len(plan.to_change) >= 3

    time.sleep(8)  # a few scheduler loops
    runs = call(scheduling, _runs, deployment_id)
    copies = {r.replacement_id for r in report.results}
    assert None not in copies and not {i.run_id for i in plan.to_change} & {r.id for r in runs}
    for copy in (r for r in runs if r.id in copies):  # manual runs at the new time
        assert not copy.auto_scheduled and copy.next_scheduled_start_time == target
    regular = sorted(r.expected_start_time for r in runs if r.auto_scheduled and r.expected_start_time)
    # the scheduler keeps its usual look-ahead (MIN_SCHEDULED_TIME 15 s, a 2 s loop): every slot
    # from the move to 10 s past now has its one regular run, as if nothing had been moved
    horizon = datetime.now(UTC) + timedelta(seconds=10)
    want = [s for s in _slots(moved_at + EVERY, horizon) if s > moved_at + timedelta(seconds=5)]
    have = [s for s in regular if want and want[0] <= s <= want[-1]]
    assert have == want, (len(have), len(want))  # each regular slot once: not stalled, not doubled


def late_runs_warned(warnings: tuple[str, ...]) -> bool:
    return any("schedule" in w and "deletes it" in w for w in warnings)


def _slots(start: datetime, end: datetime) -> list[datetime]:
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    first = anchor + EVERY * ((start - anchor) // EVERY)
    if first < start:
        first += EVERY
    out = []
    while first <= end:
        out.append(first)
        first += EVERY
    return out
