"""The shared operation model: a frozen plan, an apply engine with retries and progress, a report."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from prefect.client.orchestration import PrefectClient

from runops.concurrency import AdaptiveConcurrency, FixedConcurrency
from runops.connection import explain
from runops.errors import ApiUnreachable

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
SKIP = "skip"
TRANSIENT_CODES = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class PlannedRun:
    """One run and what the plan will do to it."""

    run_id: UUID
    name: str
    deployment: str | None
    state: str
    action: str
    scheduled_time: datetime | None = None
    new_time: datetime | None = None
    reason: str = ""
    warnings: tuple[str, ...] = ()
    flow: str | None = None
    state_type: str | None = None


@dataclass(frozen=True)
class Plan:
    """Exactly which runs an operation touches, frozen at confirm time."""

    action: str
    selection: str
    items: tuple[PlannedRun, ...]
    policy: str = ""
    matched: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def to_change(self) -> tuple[PlannedRun, ...]:
        return tuple(item for item in self.items if item.action != SKIP)

    def counts(self) -> dict[str, int]:
        return dict(Counter(item.action for item in self.items))

    @property
    def warnings(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for item in self.items:
            for warning in item.warnings:
                seen.setdefault(warning, None)
        return tuple(seen)


@dataclass(frozen=True)
class RunResult:
    run_id: UUID
    name: str
    deployment: str | None
    action: str
    before: str
    after: str | None
    outcome: str
    reason: str = ""
    new_time: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = str(data.pop("run_id"))
        data["new_time"] = self.new_time.isoformat() if self.new_time else None
        return data


@dataclass
class Report:
    action: str
    selection: str
    planned: int
    results: list[RunResult]
    started_at: datetime
    duration_s: float
    concurrency: int
    peak_concurrency: int
    policy: str = ""
    actor: str = ""
    audit_id: int | None = None
    notes: list[str] = field(default_factory=list)
    uid: UUID = field(default_factory=uuid4)  # names the operation in the audit log and Prefect's events

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(r.outcome for r in self.results)
        return {DONE: counts[DONE], SKIPPED: counts[SKIPPED], FAILED: counts[FAILED]}

    @property
    def failed_ids(self) -> list[UUID]:
        return [r.run_id for r in self.results if r.outcome == FAILED]

    def summary(self) -> str:
        t = self.totals
        return (
            f"{self.action}: {t[DONE]} done, {t[SKIPPED]} skipped, {t[FAILED]} failed "
            f"of {self.planned} planned in {self.duration_s:.1f}s (concurrency {self.concurrency})"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "selection": self.selection,
            "policy": self.policy,
            "planned": self.planned,
            "results": [r.as_json() for r in self.results],
            "totals": self.totals,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "concurrency": self.concurrency,
            "audit_id": self.audit_id,
            "operation": str(self.uid),
            "notes": self.notes,
        }


def result_for(item: PlannedRun, outcome: str, after: str | None = None, reason: str = "") -> RunResult:
    return RunResult(
        run_id=item.run_id,
        name=item.name,
        deployment=item.deployment,
        action=item.action,
        before=item.state,
        after=after,
        outcome=outcome,
        reason=reason,
        new_time=item.new_time,
    )


Handler = Callable[[PrefectClient, PlannedRun], Awaitable[RunResult]]
Progress = Callable[[int, int, RunResult], None]


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in TRANSIENT_CODES
    return isinstance(exc, httpx.TransportError)


def is_overload(exc: BaseException) -> bool:
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in {429, 503}


@dataclass
class ApplyOptions:
    concurrency: int | None = None  # None: adaptive
    max_concurrency: int = 8
    attempts: int = 3
    backoff_s: float = 0.5
    time_limit_s: float | None = None
    unreachable_after: int = 3  # consecutive unreachable failures that stop the job


async def apply_plan(
    client: PrefectClient,
    plan: Plan,
    handler: Handler,
    progress: Progress | None = None,
    options: ApplyOptions | None = None,
) -> Report:
    """Run `handler` for each planned run; every run ends done, skipped or failed, never lost.

    Bounded in time and count: each run is tried at most `attempts` times, and when the API
    stays unreachable the job stops and reports the rest as not attempted (so untouched).
    """
    options = options or ApplyOptions()
    controller: FixedConcurrency | AdaptiveConcurrency = (
        FixedConcurrency(options.concurrency)
        if options.concurrency
        else AdaptiveConcurrency(maximum=options.max_concurrency)
    )
    started_at, t0 = datetime.now(UTC), time.monotonic()
    deadline = t0 + options.time_limit_s if options.time_limit_s else None
    items = plan.items
    results: list[RunResult | None] = [None] * len(items)
    finished = 0
    unreachable_streak = 0
    stop_reason = ""

    async def attempt(item: PlannedRun) -> RunResult:
        last: BaseException | None = None
        for n in range(options.attempts):
            try:
                return await handler(client, item)
            except Exception as exc:
                last = exc
                if not is_transient(exc):
                    break
                if is_overload(exc):
                    controller.overloaded()
                if n + 1 < options.attempts:
                    await asyncio.sleep(options.backoff_s * 2**n * (0.5 + random.random()))
        assert last is not None
        raise last

    async def run_one(index: int) -> tuple[int, RunResult, bool]:
        item = items[index]
        if item.action == SKIP:
            return index, result_for(item, SKIPPED, item.state, item.reason), False
        try:
            return index, await attempt(item), False
        except Exception as exc:
            error = explain(exc)
            unreachable = isinstance(error, ApiUnreachable)
            return index, result_for(item, FAILED, None, str(error)), unreachable

    def record(index: int, result: RunResult) -> None:
        nonlocal finished
        results[index] = result
        finished += 1
        if progress is not None:
            progress(finished, len(items), result)

    pending: set[asyncio.Task[tuple[int, RunResult, bool]]] = set()
    next_index = 0
    while next_index < len(items) or pending:
        while next_index < len(items) and len(pending) < controller.limit and not stop_reason:
            if deadline is not None and time.monotonic() > deadline:
                stop_reason = (
                    f"not attempted: the job's time limit of {options.time_limit_s:.0f}s was reached"
                )
                break
            if items[next_index].action == SKIP:
                index, result, _ = await run_one(next_index)
                record(index, result)
            else:
                pending.add(asyncio.create_task(run_one(next_index)))
            next_index += 1
        if not pending:
            if stop_reason or next_index >= len(items):
                break
            continue
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            index, result, unreachable = task.result()
            unreachable_streak = unreachable_streak + 1 if unreachable else 0
            if result.outcome != FAILED:
                controller.completed()
            record(index, result)
            if unreachable_streak >= options.unreachable_after and not stop_reason:
                stop_reason = f"not attempted: the Prefect API became unreachable ({result.reason})"
    for index in range(next_index, len(items)):
        record(index, result_for(items[index], FAILED, None, stop_reason or "not attempted"))
    return Report(
        action=plan.action,
        selection=plan.selection,
        planned=len(items),
        results=[r for r in results if r is not None],
        started_at=started_at,
        duration_s=time.monotonic() - t0,
        concurrency=controller.settled,
        peak_concurrency=controller.peak,
        policy=plan.policy,
    )


def only(plan: Plan, run_ids: Sequence[UUID]) -> Plan:
    """The same plan narrowed to some runs (e.g. "again, only what failed")."""
    wanted = set(run_ids)
    return replace(
        plan, items=tuple(i for i in plan.items if i.run_id in wanted), created_at=datetime.now(UTC)
    )
