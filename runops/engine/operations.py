"""The shared operation model: a frozen plan, an apply engine with retries and progress, a report."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from prefect.client.orchestration import PrefectClient

from runops.engine.concurrency import MEMORY, AdaptiveConcurrency, FixedConcurrency
from runops.errors import ApiUnreachable, BadInput
from runops.prefect_api.client import explain
from runops.prefect_api.flow_runs import BULK_LIMIT

DONE, SKIPPED, FAILED, NOT_ATTEMPTED = "done", "skipped", "failed", "not attempted"
OUTCOMES = (DONE, SKIPPED, FAILED, NOT_ATTEMPTED)
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
    # names the plan for its whole life (narrowed, stored in a job, resumed): it salts the
    # transition ids a retried or resumed change is recognised by
    uid: UUID = field(default_factory=uuid4)

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
    # what a person must know of a change made (or maybe made): e.g. a forced Cancelled whose
    # process may still run
    warning: str = ""
    replacement_id: UUID | None = None  # recreate mode: the new run made in the original's place

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = str(data.pop("run_id"))
        data["new_time"] = self.new_time.isoformat() if self.new_time else None
        data["warning"] = self.warning or None
        data["replacement_id"] = str(self.replacement_id) if self.replacement_id else None
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
    start_concurrency: int | None = None  # where the job began (a warm start: the last job's level)
    actor: str = ""
    audit_id: int | None = None
    notes: list[str] = field(default_factory=list)
    uid: UUID = field(default_factory=uuid4)  # names the operation in the audit log and Prefect's events
    job_id: str | None = None
    status: str = ""  # the job's status when it ended: done, failed, stopped or interrupted
    reason: str = ""

    @property
    def totals(self) -> dict[str, int]:
        return totals_of(r.outcome for r in self.results)

    @property
    def failed_ids(self) -> list[UUID]:
        return [r.run_id for r in self.results if r.outcome == FAILED]

    def summary(self) -> str:
        t = self.totals
        start = self.start_concurrency
        began = f", started at {start}" if start is not None and start != self.concurrency else ""
        rest = f", {t[NOT_ATTEMPTED_KEY]} not attempted" if t[NOT_ATTEMPTED_KEY] else ""
        return (
            f"{self.action}: {t[DONE]} done, {t[SKIPPED]} skipped, {t[FAILED]} failed{rest} "
            f"of {self.planned} planned in {self.duration_s:.1f}s (concurrency {self.concurrency}{began})"
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
            "start_concurrency": self.start_concurrency,
            "audit_id": self.audit_id,
            "operation": str(self.uid),
            "job": self.job_id,
            "status": self.status or None,
            "reason": self.reason or None,
            "notes": self.notes,
        }


NOT_ATTEMPTED_KEY = "not_attempted"  # the JSON key of NOT_ATTEMPTED in totals


def totals_of(outcomes: Iterable[str | None] | Mapping[str, int]) -> dict[str, int]:
    """Counts per outcome (from outcomes, or counts by outcome), every key present (JSON keys:
    done, skipped, failed, not_attempted)."""
    counts = Counter(outcomes) if not isinstance(outcomes, Mapping) else Counter(dict(outcomes))
    return {
        DONE: counts[DONE],
        SKIPPED: counts[SKIPPED],
        FAILED: counts[FAILED],
        NOT_ATTEMPTED_KEY: counts[NOT_ATTEMPTED],
    }


def result_for(
    item: PlannedRun,
    outcome: str,
    after: str | None = None,
    reason: str = "",
    replacement_id: UUID | None = None,
) -> RunResult:
    """The answer for a planned run; the plan's warnings go with it when the change was (or may
    have been) made."""
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
        warning=" ".join(item.warnings) if outcome in (DONE, FAILED) else "",
        replacement_id=replacement_id,
    )


Handler = Callable[[PrefectClient, PlannedRun], Awaitable[RunResult]]
BatchHandler = Callable[[PrefectClient, Sequence[PlannedRun]], Awaitable[Sequence[RunResult]]]
Progress = Callable[[int, int, RunResult], None]

PROGRESS_STEPS = 20  # a batch is at most 1/20 of the job: the progress bar moves in 5% steps or less


@dataclass(frozen=True)
class Batching:
    """Runs the handler may change in ONE request (e.g. `/flow_runs/bulk_set_state`).

    On one server a job is bound by requests, not by runs: a bulk call changes 50 runs for
    little more than the cost of their state changes. `key` says which runs can share a call
    (the same proposed state); the handler gets each batch whole and must answer for every run
    in it, and must be safe to call again for the same batch (it is retried as a unit).
    """

    handler: BatchHandler
    key: Callable[[PlannedRun], Hashable]
    size: int = BULK_LIMIT
    sizes: Mapping[Hashable, int] = field(default_factory=dict)  # another size for some keys


def batch_size(runs: int, limit: int = BULK_LIMIT) -> int:
    """Big enough to save requests, small enough that progress moves in small steps."""
    return max(1, min(limit, -(-runs // PROGRESS_STEPS)))


EXPLORE_BATCH = 25  # runs per request at most while adaptive concurrency is still measuring levels


class BatchQueue:
    """The runs still to change, handed out a batch at a time: runs with the same key, in plan
    order, at most `size` (or the size `sizes` gives for the key) — or fewer on request.

    Handed out lazily so that batches can stay small while adaptive concurrency is measuring:
    a window needs a few answers, and with 50-run answers on one server the measuring would
    take most of a 1,000-run job at levels the server may not reward. Requests cost little
    next to the state changes in them (one SQLite server: ~5 ms a request, ~22 ms a run).
    """

    def __init__(
        self,
        items: Sequence[PlannedRun],
        key: Callable[[PlannedRun], Hashable],
        size: int,
        sizes: Mapping[Hashable, int] | None = None,
    ) -> None:
        self._groups: dict[Hashable, deque[int]] = {}
        for index, item in enumerate(items):
            if item.action != SKIP:
                self._groups.setdefault(key(item), deque()).append(index)
        # keys in the order they first appear; a deque, since a dict whose front entries are
        # deleted one by one is scanned from the start each time (one key per run: O(n²))
        self._order: deque[Hashable] = deque(self._groups)
        self._size, self._sizes = size, dict(sizes or {})

    def __bool__(self) -> bool:
        return bool(self._groups)

    def _limit(self, key: Hashable) -> int:
        return self._sizes.get(key, self._size)

    @property
    def largest(self) -> int:
        """The size of the biggest batch this queue would hand out."""
        return max((min(len(g), self._limit(k)) for k, g in self._groups.items()), default=1)

    def take(self, cap: int | None = None) -> list[int]:
        """The next batch; `cap` makes it smaller, except for a key with a size of its own (a
        size the caller fixed, e.g. `bulk_delete`'s 50 a call, is kept)."""
        key = self._order[0]
        group = self._groups[key]
        n = min(len(group), self._limit(key))
        if cap and key not in self._sizes:
            n = min(n, cap)
        batch = [group.popleft() for _ in range(n)]
        if not group:
            del self._groups[key]
            self._order.popleft()
        return batch

    def rest(self) -> list[int]:
        """Everything not handed out yet (and empties the queue)."""
        rest = [index for group in self._groups.values() for index in group]
        self._groups.clear()
        self._order.clear()
        return sorted(rest)


def kind_of_job(client: PrefectClient, plan: Plan, queue: BatchQueue) -> tuple[str, ...]:
    """Jobs that load the server alike: same API, same operation and per-run actions, requests of
    a similar size (one run, a few, or a bulk batch) — what a warm start carries to the next job."""
    largest = queue.largest
    size = "1" if largest == 1 else "2-9" if largest < 10 else "10+"
    actions = "+".join(sorted({item.action for item in plan.to_change}))
    return (str(client.api_url), plan.action, actions, size)


def one_by_one(handler: Handler) -> Batching:
    """A per-run handler as batches of one."""

    async def each(client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        return [await handler(client, item) for item in batch]

    return Batching(each, key=lambda item: item.run_id, size=1)


def fixed_concurrency(env: Mapping[str, str] | None = None) -> int | None:
    """RUNOPS_CONCURRENCY: a fixed number of requests in flight instead of the adaptive level."""
    raw = ((os.environ if env is None else env).get("RUNOPS_CONCURRENCY") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise BadInput(f"RUNOPS_CONCURRENCY must be a whole number of at least 1, not {raw!r}.")
    return int(raw)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in TRANSIENT_CODES
    return isinstance(exc, httpx.TransportError)


def is_overload(exc: BaseException) -> bool:
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in {429, 503}


@dataclass
class ApplyOptions:
    concurrency: int | None = field(default_factory=lambda: fixed_concurrency())  # None: adaptive
    max_concurrency: int = 8
    attempts: int = 3
    backoff_s: float = 0.5
    time_limit_s: float | None = None
    unreachable_after: int = 3  # consecutive unreachable failures that stop the job
    # asked between batches: true stops sending (batches in flight are answered, the rest is
    # "not attempted"), e.g. a Stop button or Ctrl-C
    stop: Callable[[], bool] | None = None


async def apply_plan(
    client: PrefectClient,
    plan: Plan,
    handler: Handler | Batching,
    progress: Progress | None = None,
    options: ApplyOptions | None = None,
) -> Report:
    """Run the handler for each planned run (or batch); every run ends done, skipped or failed.

    Bounded in time and count: each batch is tried at most `attempts` times, and when the API
    stays unreachable the job stops and reports the rest as not attempted (so untouched).
    """
    options = options or ApplyOptions()
    batching = handler if isinstance(handler, Batching) else one_by_one(handler)
    items = plan.items
    queue = BatchQueue(items, batching.key, batching.size, batching.sizes)
    warm_key = kind_of_job(client, plan, queue)
    controller: FixedConcurrency | AdaptiveConcurrency = (
        FixedConcurrency(options.concurrency)
        if options.concurrency
        else AdaptiveConcurrency(
            maximum=options.max_concurrency, known=MEMORY.recall(warm_key), job_runs=len(plan.to_change)
        )
    )
    started_at, t0 = datetime.now(UTC), time.monotonic()
    deadline = t0 + options.time_limit_s if options.time_limit_s else None
    results: list[RunResult | None] = [None] * len(items)
    finished = 0
    unreachable_streak = 0
    stop_reason = ""
    stopped = False

    async def attempt(batch: list[PlannedRun]) -> Sequence[RunResult]:
        last: BaseException | None = None
        for n in range(options.attempts):
            try:
                return await batching.handler(client, batch)
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

    async def run_batch(indexes: list[int]) -> tuple[list[int], list[RunResult], bool]:
        batch = [items[i] for i in indexes]
        try:
            answers = list(await attempt(batch))
        except Exception as exc:
            error = explain(exc)
            unreachable = isinstance(error, ApiUnreachable)
            return indexes, [result_for(item, FAILED, None, str(error)) for item in batch], unreachable
        by_id = {answer.run_id: answer for answer in answers}
        return (
            indexes,
            [
                by_id.get(item.run_id) or result_for(item, FAILED, None, "no answer for this run")
                for item in batch
            ],
            False,
        )

    def record(index: int, result: RunResult) -> None:
        nonlocal finished
        results[index] = result
        finished += 1
        if progress is not None:
            progress(finished, len(items), result)

    # skipped runs are answered first, from the plan itself
    for index, item in enumerate(items):
        if item.action == SKIP:
            record(index, result_for(item, SKIPPED, item.state, item.reason))
    pending: set[asyncio.Task[tuple[list[int], list[RunResult], bool]]] = set()
    while queue or pending:
        while queue and len(pending) < controller.limit and not stop_reason:
            if options.stop is not None and options.stop():
                stopped = True
                stop_reason = "not attempted: the job was stopped before its turn"
                break
            if deadline is not None and time.monotonic() > deadline:
                stop_reason = (
                    f"not attempted: the job's time limit of {options.time_limit_s:.0f}s was reached"
                )
                break
            cap = EXPLORE_BATCH if controller.exploring else None
            pending.add(asyncio.create_task(run_batch(queue.take(cap))))
        if not pending:
            break
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            indexes, batch_results, unreachable = task.result()
            unreachable_streak = unreachable_streak + 1 if unreachable else 0
            answered = sum(1 for r in batch_results if r.outcome != FAILED)
            if answered:
                controller.completed(runs=answered)
            for index, result in zip(indexes, batch_results, strict=True):
                record(index, result)
            if unreachable_streak >= options.unreachable_after and not stop_reason:
                stop_reason = f"not attempted: the Prefect API became unreachable ({batch_results[0].reason})"
    for index in queue.rest():
        outcome = NOT_ATTEMPTED if stopped else FAILED
        record(index, result_for(items[index], outcome, None, stop_reason or "not attempted"))
    if isinstance(controller, AdaptiveConcurrency):
        MEMORY.learn(warm_key, controller)
    return Report(
        action=plan.action,
        selection=plan.selection,
        planned=len(items),
        results=[r for r in results if r is not None],
        started_at=started_at,
        duration_s=time.monotonic() - t0,
        concurrency=controller.settled,
        peak_concurrency=controller.peak,
        start_concurrency=controller.start,
        policy=plan.policy,
    )


def only(plan: Plan, run_ids: Iterable[UUID]) -> Plan:
    """The same plan narrowed to some runs (e.g. "again, only what failed"); it keeps its uid, so
    a change an earlier try made without an answer is recognised as this plan's."""
    wanted = set(run_ids)
    return replace(plan, items=tuple(i for i in plan.items if i.run_id in wanted))
