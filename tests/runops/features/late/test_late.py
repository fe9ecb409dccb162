"""Late runs service against the real test server: policies, modes, remainder, races, faults, bad input."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Running, Scheduled

from bench.seed import SeedTimes
from runops.dev.server import free_port
from runops.engine.apply import ApplyOptions
from runops.engine.plan import DONE, FAILED, SKIPPED, Plan, Report, only
from runops.errors import ApiUnreachable, BadInput
from runops.features import late
from runops.features.late.recreate import idempotency_key
from runops.prefect_api.client import call
from runops.settings import Settings
from runops.store import Store
from tests.factories import Deployment, Prefect, ago, later, seeded_runs
from tests.faults import (
    BUSY,
    BeforeChange,
    BulkCreateFaults,
    BusyOnce,
    FailsDelete,
    LosesAnswers,
    Passthrough,
    RunFaults,
    set_state_directly,
)

FAST = ApplyOptions(attempts=4, backoff_s=0.2, unreachable_after=2)


class BreakAfter(httpx.AsyncBaseTransport):
    """Passes requests through until `after` matching POSTs were answered, then the connection is gone.

    `lose_response=True` lets the next matching request reach the server and loses only its answer:
    the worst case for "did it happen or not". A busy server's 429/503 answers are passed on and do
    not count (the call is tried again): the fault is meant for a request the server answered as
    done, and a shared SQLite server under the whole suite's load says "database is locked" now
    and then.
    """

    def __init__(
        self,
        path_suffix: str,
        after: int,
        lose_response: bool = False,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.path_suffix, self.after, self.lose_response = path_suffix, after, lose_response
        self.count, self.broken = 0, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.broken:
            raise httpx.ConnectError("injected: connection refused", request=request)
        if request.method != "POST" or not request.url.path.endswith(self.path_suffix):
            return await self.inner.handle_async_request(request)
        if self.count < self.after:
            self.count += 1  # before the answer: requests in flight together count at once
            response = await self.inner.handle_async_request(request)
            if response.status_code in BUSY:
                self.count -= 1
            return response
        if self.lose_response:
            response = await self.inner.handle_async_request(request)
            if response.status_code in BUSY:
                return response
            await response.aread()
            await response.aclose()
        self.broken = True
        raise httpx.ConnectError("injected: connection reset", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Counting(httpx.AsyncBaseTransport):
    """Counts requests by path (observation only; every request goes to the real server)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            # a slow machine may time a request out: it was sent all the same
            self.paths.append(f"{request.method} {request.url.path} lost")
            raise
        self.paths.append(f"{request.method} {request.url.path} {response.status_code}")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def request(deployment: Deployment, **kwargs: object) -> late.RescheduleRequest:
    kwargs.setdefault("delay", "6h")
    return late.RescheduleRequest(deployments=(deployment.full_name,), **kwargs)  # type: ignore[arg-type]


def plan_for(prefect: Prefect, req: late.RescheduleRequest) -> Plan:
    return prefect.run(late.plan_reschedule, req)


def apply(
    prefect: Prefect,
    plan: Plan,
    audit: Store | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    options: ApplyOptions | None = None,
) -> Report:
    return call(
        prefect.settings,
        late.apply_reschedule,
        plan,
        actor="tester",
        store=audit,
        options=options,
        transport=transport,
    )


def by_id(runs: list[FlowRun]) -> dict[UUID, FlowRun]:
    return {r.id: r for r in runs}


def state_names(prefect: Prefect, run_id: UUID) -> list[str]:
    async def read(client: PrefectClient) -> list[str]:
        states = await client.read_flow_run_states(run_id)
        return [s.name for s in sorted(states, key=lambda s: s.timestamp)]

    return prefect.run(read)


@pytest.fixture
def audit(tmp_path: Path) -> Store:
    return Store(tmp_path / "audit.sqlite")


def test_in_place_keeps_identity_and_cancels_the_rest(prefect: Prefect, audit: Store) -> None:
    deployment = prefect.deployment(
        work_pool="late-pool", tags=["nightly"], parameters={"x": 1}, job_variables={"env": {"A": "1"}}
    )
    runs = prefect.late_runs(
        deployment, 3, tags=["extra"], parameters={"x": 7, "y": "b"}, job_variables={"image": "img:2"}
    )
    before = by_id(runs)

    plan = plan_for(prefect, request(deployment, limit=2, remainder="cancel"))
    assert plan.matched == 3
    assert [i.run_id for i in plan.items] == [r.id for r in runs]  # newest scheduled first
    assert [i.action for i in plan.items] == ["reschedule", "reschedule", "cancel"]
    for item in plan.items[:2]:
        assert item.new_time == item.scheduled_time + timedelta(hours=6)
        assert not item.warnings
    assert "shift each run by 6h 00m" in plan.policy and "cancel the other 1" in plan.policy

    report = apply(prefect, plan, audit)
    assert report.totals == {"done": 3, "skipped": 0, "failed": 0, "not_attempted": 0}

    for item in plan.items[:2]:
        run = prefect.read(item.run_id)
        assert run is not None
        old = before[item.run_id]
        assert run.state_name == "Scheduled" and run.state_type.value == "SCHEDULED"
        assert run.next_scheduled_start_time == item.new_time
        assert run.expected_start_time == old.expected_start_time  # history of when it was due
        assert run.parameters == old.parameters == {"x": 7, "y": "b"}
        assert set(run.tags) == set(old.tags) >= {"extra", "nightly"}
        assert run.job_variables == old.job_variables == {"image": "img:2"}
        assert run.work_queue_name == old.work_queue_name and run.name == old.name
        assert state_names(prefect, run.id)[-2:] == ["Late", "Scheduled"]
    cancelled = prefect.read(plan.items[2].run_id)
    assert cancelled is not None and cancelled.state_name == "Cancelled"
    assert len(prefect.runs_of(deployment)) == 3

    record = audit.audit.operations(limit=1)[0]
    assert record["id"] == report.audit_id and record["done"] == 3 and record["actor"] == "tester"
    assert {r["run_id"] for r in audit.audit.runs(record["id"])} == {str(r.id) for r in runs}

    # Running the same job again finds nothing left to do: nothing is moved twice.
    again = plan_for(prefect, request(deployment, limit=2, remainder="cancel", states=("Late", "Scheduled")))
    assert len(again) == 0
    with pytest.raises(BadInput, match="Nothing to do"):
        apply(prefect, again)


def test_rescheduled_run_is_not_marked_late_again(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    apply(prefect, plan_for(prefect, request(deployment, policy="fixed", at="now+1h")))
    # A control run due a minute ago: once the late-marking service has marked it, the service
    # has run over our rescheduled run too.
    [control] = prefect.runs(deployment, [Scheduled(scheduled_time=ago(minutes=1))])
    deadline = time.monotonic() + 90
    while (current := prefect.read(control.id)) and current.state_name != "Late":
        assert time.monotonic() < deadline, "the late-marking service did not run"
        time.sleep(1)
    moved = prefect.read(run.id)
    assert moved is not None and moved.state_name == "Scheduled"


def test_remainder_delete_in_batches_of_50_and_spares_started_runs(prefect: Prefect, audit: Store) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, lambda i: late_at(minutes=5 * (i + 1)), 112, concurrency=1)
    plan = plan_for(prefect, request(deployment, limit=10, remainder="delete"))
    assert plan.counts() == {"reschedule": 10, "delete": 102}
    started = plan.items[40].run_id
    prefect.set_state(started, Running())  # starts between preview and apply

    counter = Counting()
    report = apply(prefect, plan, audit, transport=counter)
    # 102 runs: 50 + 50 + 2, not one call per run (503 "database is locked" answers are retried)
    bulk_calls = [p for p in counter.paths if "/flow_runs/bulk_delete " in p and not p.endswith(" 503")]
    assert len(bulk_calls) == 3, counter.paths
    assert not [p for p in counter.paths if p.startswith("DELETE")]

    results = {r.run_id: r for r in report.results}
    assert results[started].outcome == SKIPPED and results[started].reason == "now Running"
    assert report.totals == {"done": 111, "skipped": 1, "failed": 0, "not_attempted": 0}
    remaining = by_id(prefect.runs_of(deployment))
    assert set(remaining) == {i.run_id for i in plan.items[:10]} | {started}
    assert remaining[started].state_name == "Running"
    assert all(remaining[i.run_id].state_name == "Scheduled" for i in plan.items[:10])
    assert len(runs) == 112


def late_at(**ago_kwargs: float):
    from prefect.states import Late

    return Late(scheduled_time=ago(**ago_kwargs))


def test_fixed_and_spread_policies(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 5)
    at = later(hours=3).replace(microsecond=0)
    plan = plan_for(prefect, request(deployment, policy="fixed", at=at.isoformat(), remainder="leave"))
    assert {i.new_time for i in plan.items} == {at}
    apply(prefect, plan)
    assert {r.next_scheduled_start_time for r in prefect.runs_of(deployment)} == {at}
    assert {r.state_name for r in prefect.runs_of(deployment)} == {"Scheduled"}

    other = prefect.deployment()
    runs = prefect.late_runs(other, 5)  # newest first
    start = later(hours=1).replace(microsecond=0)
    plan = plan_for(
        prefect,
        request(other, policy="spread", window_start=start, window_end=start + timedelta(hours=2)),
    )
    apply(prefect, plan)
    stored = by_id(prefect.runs_of(other))
    new_times = [stored[r.id].next_scheduled_start_time for r in reversed(runs)]  # oldest first
    assert new_times == [start + timedelta(minutes=30 * k) for k in range(5)]
    assert "spread evenly" in plan.policy


def test_one_new_time_for_many_runs_goes_in_bulk_calls_that_spare_moved_runs(
    prefect: Prefect, audit: Store
) -> None:
    """Fixed policy: the runs share one new time, so they change ~50 a call (ids AND still Late
    AND still due in the same filter); a run that started meanwhile is left as it is."""
    deployment = prefect.deployment()
    ids = seeded_runs(
        prefect, deployment, 45, "SCHEDULED", "Late", times=lambda i: SeedTimes(ago(minutes=10 * (i + 1)))
    )
    at = later(hours=3).replace(microsecond=0)
    plan = plan_for(prefect, request(deployment, policy="fixed", at=at.isoformat(), remainder="leave"))
    assert len(plan.to_change) == 45
    started = plan.items[7].run_id
    prefect.set_state(started, Running())

    counter = Counting()
    report = apply(prefect, plan, audit, transport=counter)
    changes = [p for p in counter.paths if "set_state" in p]
    # 45 runs, 3 a call (so progress moves in ~5% steps); the started run only re-read, not proposed
    assert changes == ["POST /api/flow_runs/bulk_set_state 200"] * 15, changes
    results = {r.run_id: r for r in report.results}
    assert results[started].outcome == SKIPPED and results[started].reason == "now Running"
    assert report.totals == {"done": 44, "skipped": 1, "failed": 0, "not_attempted": 0}
    stored = by_id(prefect.runs_of(deployment))
    assert stored[started].state_name == "Running"
    assert {stored[i].state_name for i in ids if i != started} == {"Scheduled"}
    assert {stored[i].next_scheduled_start_time for i in ids if i != started} == {at}


def test_limit_leaves_the_rest_untouched(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 4)
    plan = plan_for(prefect, request(deployment, limit=1, remainder="leave"))
    assert len(plan) == 1 and plan.matched == 4 and late.summary(plan)["left"] == 3
    apply(prefect, plan)
    stored = by_id(prefect.runs_of(deployment))
    assert stored[runs[0].id].state_name == "Scheduled"
    assert [stored[r.id].state_name for r in runs[1:]] == ["Late"] * 3


def test_recreate_copies_every_field_and_leaves_one_run_per_original(prefect: Prefect) -> None:
    deployment = prefect.deployment(work_pool="late-pool", tags=["nightly"], parameters={"x": 1})
    runs = prefect.late_runs(deployment, 3, tags=["extra"], parameters={"x": 5}, job_variables={"cpu": 2})
    plan = plan_for(prefect, request(deployment, mode="recreate", delay="12h"))
    assert {i.action for i in plan.items} == {"recreate"}
    report = apply(prefect, plan)
    assert report.totals["done"] == 3

    after = prefect.runs_of(deployment)
    assert len(after) == 3
    assert not {r.id for r in runs} & {r.id for r in after}
    by_key = {r.idempotency_key: r for r in after}
    for old, item in zip(runs, plan.items, strict=True):
        new = by_key[idempotency_key(old.id)]
        assert new.name == old.name and new.parameters == old.parameters == {"x": 5}
        assert set(new.tags) == set(old.tags) and new.job_variables == old.job_variables == {"cpu": 2}
        assert new.work_queue_name == old.work_queue_name and new.work_pool_name == "late-pool"
        assert new.state_name == "Scheduled" and new.next_scheduled_start_time == item.new_time
        assert f"replaced by run {new.id}" in {r.reason for r in report.results}

    # Applying the same plan again creates nothing: the originals are gone, the copies found.
    again = apply(prefect, plan)
    assert again.totals["done"] == 3 and len(prefect.runs_of(deployment)) == 3


def test_runs_that_moved_on_are_skipped_and_left_alone(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 6)
    plan = plan_for(prefect, request(deployment, limit=4, remainder="cancel"))
    started, finished, deleted, untouched, started_rest = (
        runs[0].id,
        runs[1].id,
        runs[2].id,
        runs[3].id,
        runs[4].id,
    )
    prefect.set_state(started, Running())
    prefect.set_state(finished, Completed())
    prefect.run(lambda client: client.delete_flow_run(deleted))
    prefect.set_state(started_rest, Running())

    report = apply(prefect, plan)
    results = {r.run_id: r for r in report.results}
    assert results[started].reason == "now Running" and results[started].outcome == SKIPPED
    assert results[finished].reason == "now Completed"
    assert results[deleted].reason == "deleted meanwhile"
    assert results[untouched].outcome == DONE
    assert results[started_rest].reason == "now Running"
    assert results[runs[5].id].outcome == DONE

    stored = by_id(prefect.runs_of(deployment))
    assert stored[started].state_name == "Running"  # never moved back to Scheduled
    assert stored[finished].state_name == "Completed"
    assert deleted not in stored
    assert stored[started_rest].state_name == "Running"  # not Cancelling either
    assert stored[untouched].state_name == "Scheduled"
    assert stored[runs[5].id].state_name == "Cancelled"


def test_a_run_rescheduled_meanwhile_keeps_its_new_time(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    plan = plan_for(prefect, request(deployment, states=("Late", "Scheduled")))
    theirs = later(hours=2).replace(microsecond=0)
    prefect.set_state(run.id, Scheduled(scheduled_time=theirs), force=False)
    report = apply(prefect, plan)
    assert report.results[0].outcome == SKIPPED and "rescheduled meanwhile" in report.results[0].reason
    stored = prefect.read(run.id)
    assert stored is not None and stored.next_scheduled_start_time == theirs


def test_new_time_in_the_past_needs_consent(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)  # due 1h ago
    plan = plan_for(prefect, request(deployment, delay="30m"))
    assert plan.items[0].warnings == (late.PAST_WARNING,)
    assert late.summary(plan)["past"] == 1
    with pytest.raises(BadInput, match="in the past"):
        apply(prefect, plan)
    stored = prefect.read(run.id)
    assert stored is not None and stored.state_name == "Late"

    report = apply(prefect, late.with_consent(plan))
    assert report.totals["done"] == 1
    stored = prefect.read(run.id)
    assert stored is not None and stored.next_scheduled_start_time == plan.items[0].new_time

    # consent given up front in the request works the same way
    second = prefect.deployment()
    [other] = prefect.late_runs(second, 1)
    plan = plan_for(prefect, request(second, delay="10m", allow_past=True))
    assert [i.run_id for i in plan.items] == [other.id]
    assert apply(prefect, plan).totals["done"] == 1


def test_api_failure_mid_apply_then_rerun_finishes_without_duplicates(
    prefect: Prefect, audit: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 12)
    plan = plan_for(prefect, request(deployment, delay="1d"))

    broken = BreakAfter("set_state", after=5)  # the 6th state change never arrives
    with monkeypatch.context() as env:
        env.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")  # fail fast; the engine's own retries remain
        report = apply(prefect, plan, audit, transport=broken, options=FAST)
    done = {r.run_id for r in report.results if r.outcome == DONE}
    failed = {r.run_id for r in report.results if r.outcome == FAILED}
    assert len(done) == 5 and len(failed) == 7 and len(report.results) == 12
    assert any("not attempted" in r.reason for r in report.results)

    stored = by_id(prefect.runs_of(deployment))
    for item in plan.items:  # each run either rescheduled as planned or untouched
        run = stored[item.run_id]
        if item.run_id in done:
            assert run.state_name == "Scheduled" and run.next_scheduled_start_time == item.new_time
        else:
            assert run.state_name == "Late" and run.next_scheduled_start_time == item.scheduled_time

    rest = plan_for(prefect, request(deployment, delay="1d"))
    assert {i.run_id for i in rest.items} == failed
    assert apply(prefect, rest, audit).totals == {"done": 7, "skipped": 0, "failed": 0, "not_attempted": 0}
    # and re-applying the original plan changes nothing twice
    again = apply(prefect, plan, audit)
    assert again.totals == {"done": 0, "skipped": 12, "failed": 0, "not_attempted": 0}

    stored = by_id(prefect.runs_of(deployment))
    assert set(stored) == {r.id for r in runs}
    for item in plan.items:
        assert stored[item.run_id].next_scheduled_start_time == item.new_time
        assert state_names(prefect, item.run_id).count("Scheduled") == 1  # moved exactly once


@pytest.mark.parametrize(
    ("policy", "remainder"), [({"policy": "fixed", "at": "now+1d"}, "cancel"), ({"delay": "1d"}, "delete")]
)
def test_a_change_the_server_made_before_answering_503_counts_as_done(
    prefect: Prefect, monkeypatch: pytest.MonkeyPatch, policy: dict[str, str], remainder: str
) -> None:
    # A busy SQLite server can change a call's runs and then answer 503 (as in test_cancel's twin).
    # Re-sent by Prefect's client out of runops' sight, the call no longer matched those runs, and
    # runops called runs it had changed skipped: "already scheduled for the new time", "now
    # Cancelling", "already gone".
    monkeypatch.delenv("PREFECT_CLIENT_MAX_RETRIES", raising=False)  # runops' default: the client retries
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 10)
    plan = plan_for(prefect, request(deployment, limit=5, remainder=remainder, **policy))
    assert [i.action for i in plan.items] == ["reschedule"] * 5 + [remainder] * 5
    faults = LosesAnswers(3, busy=True, paths=("set_state", "bulk_delete"))
    report = apply(prefect, plan, transport=faults, options=ApplyOptions(attempts=3, backoff_s=0.05))
    assert report.totals == {"done": 10, "skipped": 0, "failed": 0, "not_attempted": 0}, [
        r.reason for r in report.results
    ]
    assert faults.n == 0  # every lost answer was of a change the server made

    stored = by_id(prefect.runs_of(deployment))
    for item in plan.items[:5]:
        assert stored[item.run_id].state_name == "Scheduled"
        assert stored[item.run_id].next_scheduled_start_time == item.new_time
        assert state_names(prefect, item.run_id).count("Scheduled") == 1  # moved exactly once
    rest = [item.run_id for item in plan.items[5:]]
    if remainder == "delete":
        assert not set(rest) & set(stored) and len(stored) == 5
    else:
        assert {stored[i].state_name for i in rest} == {"Cancelled"}
        assert [state_names(prefect, i).count("Cancelled") for i in rest] == [1] * 5
    assert set(stored) <= {r.id for r in runs}


@pytest.mark.parametrize("policy", [{"delay": "1d"}, {"policy": "fixed", "at": "now+1d"}])
def test_a_change_the_server_fails_is_failed_not_skipped_and_the_rerun_of_what_failed_does_it(
    prefect: Prefect, policy: dict[str, str]
) -> None:
    # Inside /flow_runs/bulk_set_state the server answers ABORT without a state for a run whose
    # change raised: that run was not changed and is still due, so it is "failed" (and retried
    # by "again, only what failed"), not "skipped".
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 6)
    plan = plan_for(prefect, request(deployment, limit=4, remainder="cancel", **policy))
    assert [i.action for i in plan.items] == ["reschedule"] * 4 + ["cancel"] * 2
    hit = [runs[1].id, runs[5].id]  # one to reschedule, one of the rest to cancel

    report = apply(prefect, plan, transport=RunFaults(hit))
    assert report.totals == {"done": 4, "skipped": 0, "failed": 2, "not_attempted": 0}
    assert set(report.failed_ids) == set(hit)
    assert all("injected fault" in r.reason for r in report.results if r.outcome == FAILED)
    stored = by_id(prefect.runs_of(deployment))
    assert [stored[i].state_name for i in hit] == ["Late", "Late"]  # untouched
    assert stored[hit[0]].next_scheduled_start_time == plan.items[1].scheduled_time

    rest = apply(prefect, only(plan, report.failed_ids))
    assert rest.totals == {"done": 2, "skipped": 0, "failed": 0, "not_attempted": 0}
    stored = by_id(prefect.runs_of(deployment))
    assert set(stored) == {r.id for r in runs}
    for item in plan.items:
        run = stored[item.run_id]
        if item.action == "reschedule":
            assert run.state_name == "Scheduled" and run.next_scheduled_start_time == item.new_time
        else:
            assert run.state_name == "Cancelled"


def test_recreate_fault_between_create_and_delete_then_rerun(
    prefect: Prefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 6)
    plan = plan_for(prefect, request(deployment, mode="recreate", delay="12h"))
    # the 3rd replacement is created on the server but the answer is lost; the API is gone after
    broken = BreakAfter("/create_flow_run", after=2, lose_response=True)
    with monkeypatch.context() as env:
        env.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
        # one run at a time, so "the 3rd create" falls between the 2nd delete and the 3rd delete
        report = apply(prefect, plan, transport=broken, options=replace(FAST, concurrency=1))
    assert report.totals["done"] == 2 and report.totals["failed"] == 4

    stored = prefect.runs_of(deployment)
    originals = {r.id for r in runs}
    assert len([r for r in stored if r.id in originals]) == 4  # nothing deleted before its copy exists
    assert len([r for r in stored if r.id not in originals]) == 3  # incl. the one whose answer was lost

    rerun = apply(prefect, plan_for(prefect, request(deployment, mode="recreate", delay="12h")))
    assert rerun.totals == {"done": 4, "skipped": 0, "failed": 0, "not_attempted": 0}
    stored = prefect.runs_of(deployment)
    assert len(stored) == 6 and not originals & {r.id for r in stored}
    assert {r.idempotency_key for r in stored} == {idempotency_key(i) for i in originals}


def test_recreate_in_bulk_one_create_and_one_delete_call_per_batch(prefect: Prefect) -> None:
    deployment = prefect.deployment(work_pool="late-pool", tags=["nightly"], parameters={"x": 1})
    runs = prefect.late_runs(
        deployment, 45, tags=["extra"], parameters={"x": 5}, job_variables={"cpu": 2}, concurrency=1
    )
    plan = plan_for(prefect, request(deployment, mode="recreate", delay="3d"))
    started, moves_on_late = runs[7].id, runs[1].id
    prefect.set_state(started, Running())  # between preview and apply

    async def start_it(transport: httpx.AsyncBaseTransport, req: httpx.Request) -> None:
        # between its replacement's creation and the originals' delete (a worker picks it up)
        await set_state_directly(transport, req, moves_on_late, "RUNNING", "Running")

    counter = Counting()
    with_race = BeforeChange(start_it, suffix="/flow_runs/bulk_delete")
    with_race.inner = counter
    report = apply(prefect, plan, transport=with_race, options=replace(FAST, concurrency=1))
    # 45 runs in batches of 3: one bulk create and one bulk delete per batch, no per-run calls
    # answered calls (the client repeats a 503 "database is locked" itself; a create is also sent
    # again for rows the shared SQLite answered "database is locked" inside a 200)
    answered = [p for p in counter.paths if p.startswith("POST") and p.endswith(" 200")]
    assert 15 <= sum(p.endswith("/create_flow_run/bulk 200") for p in answered) <= 20, counter.paths
    assert sum(p.endswith("/flow_runs/bulk_delete 200") for p in answered) == 15
    assert not [p for p in counter.paths if "/create_flow_run " in p]  # no per-run creates

    results = {r.run_id: r for r in report.results}
    assert report.totals == {"done": 43, "skipped": 2, "failed": 0, "not_attempted": 0}
    assert results[started].reason == "now Running"
    assert results[moves_on_late].reason == "now Running; its replacement was removed again"

    after = prefect.runs_of(deployment)
    kept = {started, moves_on_late}
    assert {r.id for r in after if r.id in {x.id for x in runs}} == kept  # only those two originals left
    assert len(after) == 45  # one run per original: 43 replacements + the 2 that started
    by_key = {r.idempotency_key: r for r in after if r.idempotency_key}
    for old, item in zip(runs, plan.items, strict=True):
        if old.id in kept:
            assert idempotency_key(old.id) not in by_key
            continue
        new = by_key[idempotency_key(old.id)]
        assert new.name == old.name and new.parameters == {"x": 5} and new.job_variables == {"cpu": 2}
        assert set(new.tags) == set(old.tags) and new.work_pool_name == "late-pool"
        assert new.state_name == "Scheduled" and new.next_scheduled_start_time == item.new_time
        assert results[old.id].reason == f"replaced by run {new.id}"

    again = apply(prefect, plan)  # the same plan again: nothing is made twice
    assert again.totals == {"done": 43, "skipped": 2, "failed": 0, "not_attempted": 0}
    assert len(prefect.runs_of(deployment)) == 45


def test_recreate_in_bulk_fault_after_a_create_whose_answer_is_lost_then_rerun(
    prefect: Prefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 60, concurrency=1)
    plan = plan_for(prefect, request(deployment, mode="recreate", delay="3d"))
    # batches of 3: the 1st batch is answered "database is locked" once (nothing stored; under the
    # whole suite's load that happens on its own) and then made; the 2nd batch's replacements are
    # made but the answer is lost; then the API is gone
    bulk = "/create_flow_run/bulk"
    broken = BreakAfter(bulk, after=1, lose_response=True, inner=BusyOnce(bulk))
    with monkeypatch.context() as env:
        env.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
        report = apply(prefect, plan, transport=broken, options=replace(FAST, concurrency=1))
    assert report.totals == {"done": 3, "skipped": 0, "failed": 57, "not_attempted": 0}

    stored = prefect.runs_of(deployment)
    originals = {r.id for r in runs}
    assert len([r for r in stored if r.id in originals]) == 57  # nothing deleted before its copy exists
    assert len([r for r in stored if r.id not in originals]) == 6  # incl. the batch whose answer was lost

    # one of the runs whose replacement was made (answer lost) starts before the job is run again
    # for what failed: it is kept, and the replacement made for it is removed
    picked_up = runs[3].id
    prefect.set_state(picked_up, Running())
    # one request at a time: under the whole suite's load a rerun with several in flight on the shared
    # SQLite server once had one run fail (busy database), which this test is not about
    rerun = apply(prefect, only(plan, report.failed_ids), options=replace(FAST, concurrency=1))
    failed = [r.reason for r in rerun.results if r.outcome == FAILED]
    assert rerun.totals == {"done": 56, "skipped": 1, "failed": 0, "not_attempted": 0}, failed
    assert {r.reason for r in rerun.results if r.outcome == SKIPPED} == {
        "now Running; its replacement was removed again"
    }
    stored = prefect.runs_of(deployment)
    assert len(stored) == 60 and originals & {r.id for r in stored} == {picked_up}
    assert {r.idempotency_key for r in stored if r.id != picked_up} == {
        idempotency_key(i) for i in originals - {picked_up}
    }


def test_recreate_in_bulk_retries_a_busy_database_and_deletes_only_what_was_stored(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 30, concurrency=1)
    plan = plan_for(prefect, request(deployment, mode="recreate", delay="3d"))
    lucky, unlucky, phantom = runs[0].id, runs[3].id, runs[5].id
    # "database is locked" on all but the last bulk try (which works), on every bulk try (the
    # run is then created on its own), and a replacement answered CREATED but never stored
    tries = late.CREATE_ATTEMPTS
    faults = BulkCreateFaults(busy={lucky: tries - 1, unlucky: tries}, phantom=[phantom])
    report = apply(prefect, plan, transport=faults, options=replace(FAST, concurrency=1))
    results = {r.run_id: r for r in report.results}
    assert report.totals == {"done": 29, "skipped": 0, "failed": 1, "not_attempted": 0}
    assert results[lucky].outcome == results[unlucky].outcome == DONE
    assert results[phantom].reason == "its replacement was not stored; the original is kept"

    stored = prefect.runs_of(deployment)
    originals = {r.id for r in runs}
    assert {r.id for r in stored if r.id in originals} == {phantom}  # kept, not lost
    assert len(stored) == 30
    assert {r.idempotency_key for r in stored if r.id != phantom} == {
        idempotency_key(i) for i in originals - {phantom}
    }

    rerun = apply(prefect, plan_for(prefect, request(deployment, mode="recreate", delay="3d")))
    assert rerun.totals == {"done": 1, "skipped": 0, "failed": 0, "not_attempted": 0}
    stored = prefect.runs_of(deployment)
    assert len(stored) == 30 and not originals & {r.id for r in stored}


@pytest.mark.parametrize("lost", [False, True], ids=["delete-refused", "delete-answer-lost"])
def test_recreate_on_its_own_that_fails_after_its_copy_is_stored_leaves_one_run(
    prefect: Prefect, lost: bool
) -> None:
    # an original kept Late beside a Scheduled copy would run twice. A row the bulk create keeps
    # failing (a busy SQLite server) is made on its own; here its copy is stored and then the
    # delete of the original fails
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 24, concurrency=1)  # batches of 2
    unlucky = runs[2].id
    faults = FailsDelete(unlucky, lost=lost, inner=BulkCreateFaults(busy={unlucky: late.CREATE_ATTEMPTS}))
    plan = plan_for(prefect, request(deployment, mode="recreate", delay="3d"))
    report = apply(prefect, plan, transport=faults, options=replace(FAST, concurrency=1))
    result = next(r for r in report.results if r.run_id == unlucky)
    stored = prefect.runs_of(deployment)
    originals = {r.id for r in runs}
    assert len(stored) == 24  # one run per original: none lost, none twice
    failed = {str(r.run_id): r.reason for r in report.results if r.outcome == FAILED}
    if lost:  # the delete went through: the copy is the run now
        assert report.totals == {"done": 24, "skipped": 0, "failed": 0, "not_attempted": 0}, failed
        assert result.reason.startswith("replaced by run ")
        assert not originals & {r.id for r in stored}
    else:  # the original is kept as it was, and the copy made for it is gone again
        assert report.totals == {"done": 23, "skipped": 0, "failed": 1, "not_attempted": 0}
        assert result.outcome == FAILED and result.reason.endswith("its replacement was removed again")
        assert originals & {r.id for r in stored} == {unlucky}
        kept = next(r for r in stored if r.id == unlucky)
        assert kept.state_name == "Late"
        assert idempotency_key(unlucky) not in {r.idempotency_key for r in stored}
        rerun = apply(prefect, only(plan, report.failed_ids), options=replace(FAST, concurrency=1))
        assert rerun.totals == {"done": 1, "skipped": 0, "failed": 0, "not_attempted": 0}
        after = prefect.runs_of(deployment)
        assert len(after) == 24 and not originals & {r.id for r in after}


class DeletesBeforeItsChange(Passthrough):
    """Someone deletes `run_id` just before runops' state change of it reaches the server."""

    def __init__(self, run_id: UUID) -> None:
        super().__init__()
        self.run_id, self.deleted = run_id, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith(f"/flow_runs/{self.run_id}/set_state"):
            gone = request.url.copy_with(path=request.url.path.removesuffix("/set_state"))
            delete = httpx.Request("DELETE", gone, headers={"accept": "application/json"})
            response = await self.inner.handle_async_request(delete)
            await response.aread()
            self.deleted = response.status_code == 204
        return await self.inner.handle_async_request(request)


def test_recreate_keeps_the_original_when_its_earlier_replacement_is_deleted_meanwhile(
    prefect: Prefect,
) -> None:
    # an earlier attempt left a replacement for another time; runops moves it to this plan's time
    # before it deletes the original. Deleted meanwhile, it cannot: the original must stay
    deployment = prefect.deployment()
    (original,) = prefect.late_runs(deployment, 1)

    async def earlier_attempt(client: PrefectClient) -> FlowRun:
        return await client.create_flow_run_from_deployment(
            deployment.id,
            state=Scheduled(scheduled_time=later(hours=1)),
            idempotency_key=idempotency_key(original.id),
        )

    replacement = prefect.harness(earlier_attempt)
    plan = plan_for(prefect, request(deployment, mode="recreate", delay="3d"))
    assert [i.run_id for i in plan.to_change] == [original.id]
    faults = DeletesBeforeItsChange(replacement.id)
    report = apply(prefect, plan, transport=faults, options=FAST)
    assert faults.deleted
    assert report.totals == {"done": 0, "skipped": 0, "failed": 1, "not_attempted": 0}
    assert f"its replacement {replacement.id} was deleted meanwhile" in report.results[0].reason
    stored = prefect.runs_of(deployment)
    assert [(r.id, r.state_name) for r in stored] == [(original.id, "Late")]  # not lost


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "N must be at least 1"),
        ({"limit": -3}, "N must be at least 1"),
        ({"delay": "-6h"}, "negative"),
        ({"delay": "soon"}, "Cannot read 'soon' as a duration"),
        ({"delay": "6"}, r"6 what\? Give a unit, e.g. 6h or 90m"),  # not guessed as minutes
        ({"delay": "31d"}, "more than 30 days needs an explicit yes: --allow-long-delay"),
        ({"delay": "99999d"}, "more than 30 days needs an explicit yes"),
        ({"delay": timedelta(days=30, seconds=1)}, "more than 30 days needs an explicit yes"),
        ({"delay": ""}, "Give the delay"),
        ({"policy": "spread", "window_start": "now+2h", "window_end": "now+1h"}, "end after it starts"),
        ({"policy": "fixed", "at": "tomorrow-ish"}, "Cannot read"),
        ({"states": ("Running",)}, "have not started"),
        ({"remainder": "explode"}, "Unknown choice"),
    ],
)
def test_bad_input_is_refused_in_words(kwargs: dict[str, object], message: str) -> None:
    kwargs.setdefault("delay", "6h")
    with pytest.raises(BadInput, match=message):
        late.RescheduleRequest(deployments=("a/b",), **kwargs)  # type: ignore[arg-type]


def test_a_delay_of_more_than_30_days_only_with_an_explicit_yes(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    assert late.RescheduleRequest(deployments=("a/b",), delay="30d").delay == timedelta(days=30)
    with pytest.raises(BadInput, match="more than 30 days"):
        request(deployment, delay="45d")
    assert prefect.read(run.id).state_name == "Late"

    report = apply(prefect, plan_for(prefect, request(deployment, delay="45d", allow_long=True)))
    assert report.totals["done"] == 1
    stored = prefect.read(run.id)
    assert stored is not None and stored.state_name == "Scheduled"
    assert run.next_scheduled_start_time is not None
    assert stored.next_scheduled_start_time == run.next_scheduled_start_time + timedelta(days=45)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"policy": "fixed", "at": "now+45d"},
        {"policy": "spread", "window_start": "now+1h", "window_end": "now+400d"},
    ],
)
def test_a_new_time_more_than_30_days_ahead_only_with_an_explicit_yes(kwargs: dict[str, object]) -> None:
    now = datetime.now(UTC)
    assert late.is_long_move(
        kwargs["policy"], at=kwargs.get("at"), window_end=kwargs.get("window_end"), now=now
    )
    with pytest.raises(BadInput, match="more than 30 days ahead needs an explicit yes"):
        late.RescheduleRequest(deployments=("a/b",), now=now, **kwargs)  # type: ignore[arg-type]
    allowed = late.RescheduleRequest(deployments=("a/b",), now=now, allow_long=True, **kwargs)  # type: ignore[arg-type]
    assert allowed.allow_long
    assert not late.is_long_move("fixed", at="now+29d", now=now)
    assert not late.is_long_move("spread", window_end="not a time", now=now)  # the request says why


def test_no_deployment_and_unknown_deployment(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 2)
    with pytest.raises(BadInput, match="at least one deployment"):
        late.RescheduleRequest(deployments=(), delay="6h")
    typo = deployment.full_name[:-1] + "x"
    with pytest.raises(BadInput, match=f"Unknown deployment.*Did you mean.*{deployment.full_name}"):
        plan_for(prefect, late.RescheduleRequest(deployments=(typo,), delay="6h"))
    assert {r.state_name for r in prefect.runs_of(deployment)} == {"Late"}
    assert len(runs) == 2


def test_unreachable_api_is_an_error_in_words() -> None:
    dead = Settings(api_url=f"http://127.0.0.1:{free_port()}/api")
    req = late.RescheduleRequest(deployments=("a/b",), delay="6h")
    with pytest.raises(ApiUnreachable, match="Cannot reach the Prefect API"):
        call(dead, late.plan_reschedule, req)


def test_read_only_mode_refuses_before_anything_changes(
    prefect: Prefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runops.errors import NotAllowed

    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    plan = plan_for(prefect, request(deployment))
    monkeypatch.setenv("RUNOPS_READ_ONLY", "1")
    with pytest.raises(NotAllowed):
        apply(prefect, plan)
    stored = prefect.read(run.id)
    assert stored is not None and stored.state_name == "Late"


def test_request_parses_people_units() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    req = late.RescheduleRequest(deployments="f/d", delay="1d 2h", now=now, states="late")  # type: ignore[arg-type]
    assert req.delay == timedelta(hours=26) and req.states == ("Late",) and req.deployments == ("f/d",)
    fixed = late.RescheduleRequest(deployments=("f/d",), policy="fixed", at="now+90m", now=now)
    assert fixed.at == now + timedelta(minutes=90)
    assert "move to 2026-01-01 13:30 UTC" in fixed.policy_words()
    local = late.RescheduleRequest(
        deployments=("f/d",), policy="fixed", at="2026-01-02 10:00", zone="Europe/Berlin", now=now
    )
    assert local.at == datetime(2026, 1, 2, 9, tzinfo=UTC)  # typed in the viewer's zone
    with pytest.raises(BadInput, match="Unknown time zone"):
        late.RescheduleRequest(deployments=("f/d",), policy="fixed", at="2026-01-02 10:00", zone="Mars/Base")
