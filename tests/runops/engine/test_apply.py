"""The apply engine: every run ends done/skipped/failed, bounded retries, a stop when the API is gone."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import httpx
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.states import Scheduled

from runops.engine import concurrency
from runops.engine.apply import ApplyOptions, Batching, BatchQueue, apply_plan, batch_size
from runops.engine.plan import (
    DONE,
    FAILED,
    SKIP,
    SKIPPED,
    Plan,
    PlannedRun,
    Report,
    RunResult,
    only,
    result_for,
)
from tests.factories import Prefect, later


def _items(n: int, action: str = "touch") -> tuple[PlannedRun, ...]:
    return tuple(PlannedRun(uuid4(), f"run-{i}", "f/d", "Late", action) for i in range(n))


def _run(prefect: Prefect, plan: Plan, handler, **options) -> tuple:
    seen: list[tuple[int, int]] = []

    async def go(client: PrefectClient):
        return await apply_plan(
            client,
            plan,
            handler,
            progress=lambda d, t, r: seen.append((d, t)),
            options=ApplyOptions(**options),
        )

    return prefect.run(go), seen


def test_progress_skips_and_order(prefect: Prefect) -> None:
    items = (*_items(3), PlannedRun(uuid4(), "skip-me", None, "Running", SKIP, reason="started"))

    async def ok(client: PrefectClient, item: PlannedRun) -> RunResult:
        return result_for(item, DONE, "Scheduled")

    report, seen = _run(prefect, Plan("test", "sel", items), ok)
    assert [r.outcome for r in report.results] == [DONE, DONE, DONE, SKIPPED]
    assert report.results[3].reason == "started"
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert report.totals == {"done": 3, "skipped": 1, "failed": 0, "not_attempted": 0}


def test_transient_errors_retried_then_reported(prefect: Prefect) -> None:
    calls: dict[str, int] = {}

    async def flaky(client: PrefectClient, item: PlannedRun) -> RunResult:
        calls[item.name] = calls.get(item.name, 0) + 1
        if item.name == "run-0" and calls[item.name] < 2:
            raise httpx.ReadError("connection reset")
        if item.name == "run-1":
            request = httpx.Request("POST", "http://x/api/flow_runs/1/set_state")
            raise httpx.HTTPStatusError("503", request=request, response=httpx.Response(503, request=request))
        return result_for(item, DONE)

    report, _ = _run(prefect, Plan("test", "sel", _items(3)), flaky, backoff_s=0.01, attempts=3)
    assert [r.outcome for r in report.results] == [DONE, FAILED, DONE]
    assert calls == {"run-0": 2, "run-1": 3, "run-2": 1}  # bounded: 3 attempts at most
    assert "overloaded" in report.results[1].reason


def test_unreachable_api_stops_and_reports_the_rest(prefect: Prefect) -> None:
    async def down(client: PrefectClient, item: PlannedRun) -> RunResult:
        raise httpx.ConnectError("connection refused")

    report, seen = _run(prefect, Plan("test", "sel", _items(20)), down, backoff_s=0.01, concurrency=1)
    assert len(report.results) == 20 and len(seen) == 20
    assert all(r.outcome == FAILED for r in report.results)
    assert sum("not attempted" in r.reason for r in report.results) == 17


def test_time_limit(prefect: Prefect) -> None:
    async def slow(client: PrefectClient, item: PlannedRun) -> RunResult:
        await asyncio.sleep(0.3)
        return result_for(item, DONE)

    report, _ = _run(prefect, Plan("test", "sel", _items(10)), slow, concurrency=1, time_limit_s=0.5)
    outcomes = [r.outcome for r in report.results]
    assert outcomes.count(DONE) in (2, 3) and len(outcomes) == 10
    assert all("time limit" in r.reason for r in report.results if r.outcome == FAILED)


def test_real_state_changes_and_only(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1)) for _ in range(4)])
    target = later(hours=30).replace(microsecond=0)
    items = tuple(PlannedRun(r.id, r.name, None, "Scheduled", "reschedule", new_time=target) for r in runs)
    plan = only(Plan("move", "sel", items), [runs[1].id, runs[3].id])

    async def move(client: PrefectClient, item: PlannedRun) -> RunResult:
        result = await client.set_flow_run_state(item.run_id, Scheduled(scheduled_time=item.new_time))
        return result_for(item, DONE, result.state.name if result.state else None)

    report, _ = _run(prefect, plan, move)
    assert report.totals["done"] == 2
    stored = prefect.read_many([r.id for r in runs])
    assert [stored[r.id].next_scheduled_start_time == target for r in runs] == [False, True, False, True]


def test_batches_group_by_key_in_plan_order_and_answer_per_run(prefect: Prefect) -> None:
    items = (
        *_items(5, "a"),
        PlannedRun(uuid4(), "skip-me", None, "Running", SKIP, reason="started"),
        *_items(3, "b"),
        *_items(2, "a"),
    )

    def batches(queue: BatchQueue) -> list[list[int]]:
        out = []
        while queue:
            out.append(queue.take())
        return out

    # grouped by key, keys in the order they first appear; the skipped run is in no batch
    assert batches(BatchQueue(items, key=lambda i: i.action, size=3)) == [
        [0, 1, 2],
        [3, 4, 9],
        [10],
        [6, 7, 8],
    ]
    # a key with a size of its own (e.g. `bulk_delete`'s 50 a call) keeps it
    assert batches(BatchQueue(items, key=lambda i: i.action, size=3, sizes={"b": 2})) == [
        [0, 1, 2],
        [3, 4, 9],
        [10],
        [6, 7],
        [8],
    ]
    rest = BatchQueue(items, key=lambda i: i.action, size=3)
    rest.take()
    assert rest.rest() == [3, 4, 6, 7, 8, 9, 10] and not rest
    assert [batch_size(n) for n in (1, 20, 21, 260, 1000, 50_000)] == [1, 1, 2, 13, 50, 50]

    calls: list[list[str]] = []

    async def together(client: PrefectClient, batch) -> list[RunResult]:
        calls.append([i.name for i in batch])
        if len(calls) == 1:  # the first call's answer is lost: the batch is retried as a unit
            raise httpx.ReadError("connection reset")
        # the handler forgets one run: the engine reports it failed instead of losing it
        return [result_for(i, DONE) for i in batch if i.name != "run-1" or i.action != "b"]

    plan = Plan("test", "sel", items)
    report, seen = _run(
        prefect, plan, Batching(together, key=lambda i: i.action, size=3), concurrency=1, backoff_s=0.01
    )
    assert calls[0] == calls[1] and len(calls) == 5
    assert [r.outcome for r in report.results] == [DONE] * 5 + [SKIPPED, DONE, FAILED, DONE, DONE, DONE]
    assert report.results[7].reason == "no answer for this run"
    assert [d for d, _ in seen] == list(range(1, 12))  # progress still moves once per run


def test_each_job_climbs_from_4_on_its_own_in_full_batches(
    prefect: Prefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a server whose answers take the same time at any concurrency and batch size: more in
    # flight is faster, so the job climbs by one a window (>= 2 s) from 4 to the maximum, 8.
    # Time is virtual (0.5 s per answer, shared by the requests that overlapped it), so the
    # climb does not depend on how loaded the machine is.
    sizes: list[int] = []
    virtual = {"now": 0.0}
    active: list[dict[str, int]] = []  # requests in flight, each with the most it overlapped
    monkeypatch.setattr(concurrency, "clock", lambda: virtual["now"])

    async def steady(client: PrefectClient, batch) -> list[RunResult]:
        sizes.append(len(batch))
        me = {"overlap": 0}
        active.append(me)
        for request in active:
            request["overlap"] = max(request["overlap"], len(active))
        await asyncio.sleep(0.01)
        active.remove(me)
        virtual["now"] += 0.5 / me["overlap"]
        return [result_for(i, DONE, "Cancelling") for i in batch]

    def job(action: str, n: int, **options) -> Report:
        plan = Plan(action, "sel", _items(n))
        return _run(prefect, plan, Batching(steady, key=lambda i: 0, size=batch_size(n)), **options)[0]

    first = job("touch", 6000)
    assert (first.start_concurrency, first.concurrency, first.peak_concurrency) == (4, 8, 8)
    assert first.totals["done"] == 6000 and "started at 4" in first.summary()
    assert set(sizes) == {50}  # full batches throughout: no smaller ones while climbing

    # nothing carries over: the next job of the same kind starts at 4 again
    second = job("touch", 400)
    assert second.start_concurrency == 4 and second.totals["done"] == 400
    fixed = job("touch", 30, concurrency=1)
    assert fixed.start_concurrency == fixed.concurrency == fixed.peak_concurrency == 1
