"""execute(): refusal before any change, audit record and Prefect event after, stored state checked."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.states import Scheduled

from runops.engine.execute import execute
from runops.engine.plan import DONE, Plan, PlannedRun, RunResult, result_for
from runops.errors import NotAllowed
from runops.prefect_api.events import EVENT_NAME
from runops.store import Store
from tests.factories import Prefect, later


async def move_to(client: PrefectClient, item: PlannedRun) -> RunResult:
    assert item.new_time is not None
    result = await client.set_flow_run_state(item.run_id, Scheduled(scheduled_time=item.new_time))
    return result_for(item, DONE, result.state.name if result.state else None)


def _plan(runs, new_time: datetime) -> Plan:
    return Plan(
        action="test move",
        selection="two runs",
        items=tuple(
            PlannedRun(run.id, run.name, None, run.state.name, "reschedule", new_time=new_time)
            for run in runs
        ),
    )


def test_execute_records_audit_and_event(prefect: Prefect, tmp_path) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1)) for _ in range(2)])
    target = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    audit = Store(tmp_path / "audit.sqlite")

    report = prefect.run(execute, _plan(runs, target), move_to, actor="ana@example.com", store=audit)

    assert report.totals == {"done": 2, "skipped": 0, "failed": 0, "not_attempted": 0}
    for run in runs:
        stored = prefect.read(run.id)
        assert stored is not None and stored.next_scheduled_start_time == target
    [operation] = audit.audit.operations()
    assert operation["actor"] == "ana@example.com" and operation["done"] == 2
    assert {r["run_id"] for r in audit.audit.runs(operation["id"])} == {str(r.id) for r in runs}
    assert not report.notes

    async def events(client: PrefectClient) -> list[dict]:
        body = {"filter": {"event": {"name": [EVENT_NAME]}, "occurred": {"since": "2000-01-01T00:00:00Z"}}}
        response = await client.request("POST", "/events/filter", json=body)
        return response.json()["events"]

    assert operation["uid"] == str(report.uid)
    # the server persists events asynchronously (its event persister service): poll, bounded
    deadline = time.monotonic() + 60
    found: list[dict] = []
    while not found and time.monotonic() < deadline:
        found = [
            e
            for e in prefect.run(events)
            if e["resource"]["prefect.resource.id"] == f"runops.operation.{report.uid}"
        ]
        time.sleep(0.5)
    assert found, "the operation event is in Prefect's event feed"
    assert found[0]["payload"]["totals"]["done"] == 2
    related = {r["prefect.resource.id"] for r in found[0]["related"]}
    assert related == {f"prefect.flow-run.{r.id}" for r in runs}


def test_read_only_changes_nothing(prefect: Prefect, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNOPS_READ_ONLY", "1")
    deployment = prefect.deployment()
    [run] = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1))])
    before = prefect.read(run.id)
    audit = Store(tmp_path / "audit.sqlite")
    with pytest.raises(NotAllowed):
        prefect.run(execute, _plan([run], later(hours=9)), move_to, actor="x@example.com", store=audit)
    after = prefect.read(run.id)
    assert after is not None and before is not None
    assert after.next_scheduled_start_time == before.next_scheduled_start_time
    assert after.state_id == before.state_id
    assert audit.audit.operations() == []


def test_non_operator_refused(prefect: Prefect, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNOPS_OPERATORS", "ops@example.com")
    deployment = prefect.deployment()
    [run] = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1))])
    with pytest.raises(NotAllowed, match="not an operator"):
        prefect.run(execute, _plan([run], later(hours=9)), move_to, actor="dev@example.com", store=None)
    stored = prefect.read(run.id)
    assert stored is not None and stored.state_id == run.state_id
