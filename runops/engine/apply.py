"""The apply loop: a plan's runs sent in batches, within a concurrency limit, with retries and progress."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from prefect.client.orchestration import PrefectClient

from runops.engine.concurrency import ConcurrencyLimit, fixed_concurrency
from runops.engine.plan import (
    FAILED,
    NOT_ATTEMPTED,
    SKIP,
    SKIPPED,
    Plan,
    PlannedRun,
    Report,
    RunResult,
    result_for,
)
from runops.errors import ApiUnreachable
from runops.prefect_api.client import explain
from runops.prefect_api.flow_runs import BULK_LIMIT

TRANSIENT_CODES = {408, 429, 500, 502, 503, 504}
PROGRESS_STEPS = 20  # a batch is at most 1/20 of the job: the progress bar moves in 5% steps or less

Handler = Callable[[PrefectClient, PlannedRun], Awaitable[RunResult]]
BatchHandler = Callable[[PrefectClient, Sequence[PlannedRun]], Awaitable[Sequence[RunResult]]]
Progress = Callable[[int, int, RunResult], None]


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


def one_by_one(handler: Handler) -> Batching:
    """A per-run handler as batches of one."""

    async def each(client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        return [await handler(client, item) for item in batch]

    return Batching(each, key=lambda item: item.run_id, size=1)


class BatchQueue:
    """The runs still to change, handed out a batch at a time: runs with the same key, in plan
    order, at most `size` (or the size `sizes` gives for the key)."""

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

    def take(self) -> list[int]:
        """The next batch."""
        key = self._order[0]
        group = self._groups[key]
        batch = [group.popleft() for _ in range(min(len(group), self._sizes.get(key, self._size)))]
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


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in TRANSIENT_CODES
    return isinstance(exc, httpx.TransportError)


def is_overload(exc: BaseException) -> bool:
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in {429, 503}


@dataclass
class ApplyOptions:
    """How one apply runs: requests in flight, tries per batch, time limit, when to stop."""

    # a fixed number in flight (RUNOPS_CONCURRENCY by default); None: a ConcurrencyLimit up to the maximum
    concurrency: int | None = field(default_factory=lambda: fixed_concurrency())
    max_concurrency: int = 8
    attempts: int = 3
    backoff_s: float = 0.5
    time_limit_s: float | None = None
    unreachable_after: int = 3  # consecutive unreachable failures that stop the job
    # asked between batches: true stops sending (batches in flight are answered, the rest is
    # "not attempted"), e.g. a Stop button or Ctrl-C
    stop: Callable[[], bool] | None = None


def bounded_options(runs: int) -> ApplyOptions:
    """Bounded in time as well as count: generous for a job of `runs` changes, never open-ended."""
    return ApplyOptions(time_limit_s=max(600.0, 2.0 * runs))


@dataclass
class Answer:
    """What one batch came back with: a result per run, and whether the API was unreachable."""

    indexes: list[int]
    results: list[RunResult]
    unreachable: bool = False


class Applier:
    """One apply of a plan: skipped runs answered from the plan, the rest sent in batches with at
    most `concurrency.limit` in flight until every run is answered, the job is stopped, its time limit
    passes or the API stays unreachable; what was never sent is reported with the reason."""

    def __init__(
        self,
        client: PrefectClient,
        plan: Plan,
        batching: Batching,
        progress: Progress | None,
        options: ApplyOptions,
    ) -> None:
        self.client, self.plan, self.batching = client, plan, batching
        self.progress, self.options = progress, options
        self.items = plan.items
        self.queue = BatchQueue(self.items, batching.key, batching.size, batching.sizes)
        self.concurrency = (
            ConcurrencyLimit.fixed_at(options.concurrency)
            if options.concurrency
            else ConcurrencyLimit(maximum=options.max_concurrency)
        )
        self.results: list[RunResult | None] = [None] * len(self.items)
        self.finished = 0
        self.unreachable_streak = 0
        self.stop_reason = ""
        self.stopped = False
        self.deadline: float | None = None

    async def run(self) -> Report:
        started_at, t0 = datetime.now(UTC), time.monotonic()
        if self.options.time_limit_s:
            self.deadline = t0 + self.options.time_limit_s
        self.answer_skipped()
        await self.send_all()
        self.report_unsent()
        return self.report(started_at, time.monotonic() - t0)

    def answer_skipped(self) -> None:
        """Skipped runs are answered first, from the plan itself."""
        for index, item in enumerate(self.items):
            if item.action == SKIP:
                self.record(index, result_for(item, SKIPPED, item.state, item.reason))

    async def send_all(self) -> None:
        pending: set[asyncio.Task[Answer]] = set()
        while self.queue or pending:
            while self.queue and len(pending) < self.concurrency.limit and self.may_send():
                pending.add(asyncio.create_task(self.send(self.queue.take())))
            if not pending:
                return
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self.take_answer(task.result())

    def may_send(self) -> bool:
        """Whether another batch may go out: not once the job is stopped or out of time."""
        if self.stop_reason:
            return False
        if self.options.stop is not None and self.options.stop():
            self.stopped = True
            self.stop_reason = "not attempted: the job was stopped before its turn"
        elif self.deadline is not None and time.monotonic() > self.deadline:
            limit = self.options.time_limit_s or 0.0
            self.stop_reason = f"not attempted: the job's time limit of {limit:.0f}s was reached"
        return not self.stop_reason

    async def send(self, indexes: list[int]) -> Answer:
        """One batch, retried as a unit; a batch that fails for good fails each of its runs."""
        batch = [self.items[i] for i in indexes]
        try:
            answers = list(await self.attempt(batch))
        except Exception as exc:
            error = explain(exc)
            failed = [result_for(item, FAILED, None, str(error)) for item in batch]
            return Answer(indexes, failed, isinstance(error, ApiUnreachable))
        by_id = {answer.run_id: answer for answer in answers}
        missing = "no answer for this run"
        return Answer(indexes, [by_id.get(i.run_id) or result_for(i, FAILED, None, missing) for i in batch])

    async def attempt(self, batch: list[PlannedRun]) -> Sequence[RunResult]:
        """At most `attempts` tries with jittered exponential back-off, for transient errors only."""
        last: BaseException | None = None
        for n in range(self.options.attempts):
            epoch = self.concurrency.epoch  # a push-back is judged by when its request was sent
            try:
                return await self.batching.handler(self.client, batch)
            except Exception as exc:
                last = exc
                if not is_transient(exc):
                    break
                if is_overload(exc):
                    self.concurrency.overloaded(epoch)
                if n + 1 < self.options.attempts:
                    await asyncio.sleep(self.options.backoff_s * 2**n * (0.5 + random.random()))
        assert last is not None
        raise last

    def take_answer(self, answer: Answer) -> None:
        self.unreachable_streak = self.unreachable_streak + 1 if answer.unreachable else 0
        answered = sum(1 for r in answer.results if r.outcome != FAILED)
        if answered:
            self.concurrency.completed(runs=answered)
        for index, result in zip(answer.indexes, answer.results, strict=True):
            self.record(index, result)
        if self.unreachable_streak >= self.options.unreachable_after and not self.stop_reason:
            reason = answer.results[0].reason
            self.stop_reason = f"not attempted: the Prefect API became unreachable ({reason})"

    def record(self, index: int, result: RunResult) -> None:
        self.results[index] = result
        self.finished += 1
        if self.progress is not None:
            self.progress(self.finished, len(self.items), result)

    def report_unsent(self) -> None:
        """Runs never sent: not attempted when the job was stopped, else failed (still due)."""
        outcome = NOT_ATTEMPTED if self.stopped else FAILED
        for index in self.queue.rest():
            self.record(
                index, result_for(self.items[index], outcome, None, self.stop_reason or "not attempted")
            )

    def report(self, started_at: datetime, duration_s: float) -> Report:
        return Report(
            action=self.plan.action,
            selection=self.plan.selection,
            planned=len(self.items),
            results=[r for r in self.results if r is not None],
            started_at=started_at,
            duration_s=duration_s,
            concurrency=self.concurrency.limit,
            peak_concurrency=self.concurrency.peak,
            start_concurrency=self.concurrency.start,
            policy=self.plan.policy,
        )


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
    batching = handler if isinstance(handler, Batching) else one_by_one(handler)
    return await Applier(client, plan, batching, progress, options or ApplyOptions()).run()
