"""Apply a retry plan: conditional bulk `Scheduled` proposals, each run judged by what the server says."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Scheduled

from runops.engine.apply import Batching, batch_size
from runops.engine.kind import JobKind
from runops.engine.messages import UNSIGNED, Signed, state_message
from runops.engine.plan import DONE, FAILED, SKIPPED, Plan, PlannedRun, RunResult, result_for
from runops.engine.selection import read_by_id
from runops.errors import BadInput
from runops.features.retry.options import RetryOptions
from runops.features.retry.plan import PLAN_ACTION, RETRY
from runops.prefect_api import flow_runs
from runops.prefect_api.client import sent_once
from runops.prefect_api.flow_runs import StateAnswer

# after a retry the worker may already have taken the run on: these are "ours" on a re-read
RETRIED_TYPES = frozenset({StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING})


def transition_id(plan: Plan, run_id: UUID, kind: str = "retry") -> UUID:
    """Stable per plan and batch (named by its first run): a request repeated after a lost answer
    is a duplicate the server recognises, and a re-read recognises the state as this plan's."""
    return uuid.uuid5(run_id, f"runops-{kind}:{plan.uid}")


async def propose_retry(
    client: PrefectClient,
    ids: list[UUID],
    state_types: Sequence[str],
    new_time: datetime | None,
    transition: UUID,
    ended_by: datetime | None = None,
    message: str = state_message("retried"),
) -> dict[UUID, StateAnswer]:
    """`Scheduled` (without force) for those of `ids` still in one of `state_types` and, if
    given, ended no later than `ended_by`; in one request. Runs missing from the answer did
    not match (any more)."""
    conditions: dict[str, object] = {
        "id": FlowRunFilterId(any_=ids),
        "state": FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(t) for t in state_types])),
    }
    if ended_by is not None:
        conditions["end_time"] = FlowRunFilterEndTime(before_=ended_by)
    state = Scheduled(scheduled_time=new_time or datetime.now(UTC), message=message)
    return await flow_runs.bulk_set_flow_run_state(
        client, FlowRunFilter(**conditions), state, limit=len(ids), transition_id=transition
    )


def judge(item: PlannedRun, answer: StateAnswer) -> RunResult:
    """By the returned state: Scheduled is done; the server's refusal (e.g. ABORT for a run without
    a deployment) is a skip with its words; a run the server failed to change is a failure."""
    if answer.state_type == StateType.SCHEDULED.value:
        return result_for(item, DONE, answer.state_name)
    if answer.server_failed:
        return result_for(item, FAILED, None, f"the server could not change it: {answer.reason}")
    return result_for(item, SKIPPED, answer.state_name, answer.reason or "the server refused the retry")


class RetryBatch:
    """Retries a batch of planned runs (same new time) with one conditional bulk call; runs the
    call did not match are re-read once to say why (changed meanwhile, deleted, or ours already).
    Safe to repeat for the same batch: the engine retries a batch whose request failed."""

    def __init__(self, plan: Plan, signed: Signed = UNSIGNED, sent: Iterable[UUID] = ()) -> None:
        self.plan = plan
        options = RetryOptions.of(plan.options)
        self.types = list(options.state_types)
        self.ended_by = options.ended_by
        self.message = signed.message("retried")
        self.bulk = True  # False once the API turns out to lack /flow_runs/bulk_set_state
        # runs whose proposal may have reached the server without an answer (see `sent_once`)
        self.sent: set[UUID] = set(sent)

    def ours(self, batch: Sequence[PlannedRun], run: FlowRun) -> bool:
        if run.id in self.sent:
            return True
        mark = run.state.state_details.transition_id if run.state is not None else None
        return mark is not None and mark in {
            transition_id(self.plan, batch[0].run_id),
            transition_id(self.plan, run.id),
        }

    def as_found(self, batch: Sequence[PlannedRun], item: PlannedRun, run: FlowRun | None) -> RunResult:
        """The result for a run the conditional call did not match."""
        if run is None:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        state = run.state
        name = state.name if state is not None else "no state"
        if state is not None and state.type in RETRIED_TYPES:
            if self.ours(batch, run):
                return result_for(item, DONE, name, "confirmed on re-read")
            return result_for(item, SKIPPED, name, f"retried meanwhile: now {name}")
        if state is not None and state.type.value in self.types:
            if self.ended_by and run.end_time and run.end_time > self.ended_by:
                return result_for(item, SKIPPED, name, f"ran again since the preview: now {name}")
            return result_for(item, FAILED, name, "the server left it unchanged; retry what failed again")
        return result_for(item, SKIPPED, name, f"changed since the preview: now {name}")

    async def __call__(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        ids = [item.run_id for item in batch]
        transition = transition_id(self.plan, batch[0].run_id)
        answers: dict[UUID, StateAnswer] = {}
        if self.bulk:
            try:
                with sent_once(self.sent, ids):
                    answers = await propose_retry(
                        client, ids, self.types, batch[0].new_time, transition, self.ended_by, self.message
                    )
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code not in (404, 405):
                    raise
                self.bulk = False  # an API without the bulk endpoint: re-read, then one by one
        results = {item.run_id: judge(item, answers[item.run_id]) for item in batch if item.run_id in answers}
        missing = [item for item in batch if item.run_id not in answers]
        now = await read_by_id(client, [item.run_id for item in missing]) if missing else {}
        for item in missing:
            run = now.get(item.run_id)
            if not self.bulk and run is not None and self.still_as_planned(run):
                results[item.run_id] = await self.one(client, item)
            else:
                results[item.run_id] = self.as_found(batch, item, run)
        return [results[item.run_id] for item in batch]

    def still_as_planned(self, run: FlowRun) -> bool:
        if run.state is None or run.state.type.value not in self.types:
            return False
        return not (self.ended_by and run.end_time and run.end_time > self.ended_by)

    async def one(self, client: PrefectClient, item: PlannedRun) -> RunResult:
        state = Scheduled(scheduled_time=item.new_time or datetime.now(UTC), message=self.message)
        with sent_once(self.sent, [item.run_id], unchanged=(404,)):
            answer = await flow_runs.set_flow_run_state(client, item.run_id, state)
        if answer is None:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        return judge(item, answer)


def batch_key(item: PlannedRun) -> datetime | None:
    """Runs due at the same time share one bulk call (retry now or at T: the whole job)."""
    return item.new_time


def retry_batches(plan: Plan, signed: Signed = UNSIGNED, sent: Iterable[UUID] = ()) -> Batching:
    return Batching(RetryBatch(plan, signed, sent), key=batch_key, size=batch_size(len(plan.to_change)))


def check_plan(plan: Plan) -> None:
    if not any(item.action == RETRY for item in plan.items):
        raise BadInput("Nothing to retry: every planned run is skipped.")


RETRY_KIND = JobKind(PLAN_ACTION, check_plan, retry_batches)
apply_retry = RETRY_KIND.apply
