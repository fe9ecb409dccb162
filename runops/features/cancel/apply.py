"""Bulk cancel: plan and apply the cancellation of every matching run, the way Prefect's CLI does.

Prefect's `prefect flow-run cancel` proposes `Cancelling` without force, whatever the run's state,
and the server's core policy does the rest atomically (verified in prefect 3.9.1,
`server/orchestration/core_policy.py`): Scheduled/Late/AwaitingRetry runs without infrastructure
and Suspended runs (`pause_reschedule`) become `Cancelled` at once (status REJECT, but the
returned state *is* Cancelled); Pending/Running runs and blocking Paused runs become `Cancelling`
until their worker/runner stops the process; finished runs get ABORT and keep their state.
runops proposes exactly that and judges each answer by the returned state's type, never its
status. It never proposes `Cancelled` blind: the server accepts that on a Completed run.
It sends the proposals in batches through `/flow_runs/bulk_set_state` (the same rules, per run,
filtered by ids AND a not-finished state): one request per batch instead of one per run.
Every proposal carries the job's state message (who, why); the server's own Cancelled for a
not-started run does not, so with a reason given runops proposes Cancelled once more, with the
message, to those runs still Cancelled (one more request per batch).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling, State

from runops.engine.apply import Batching, batch_size
from runops.engine.kind import JobKind
from runops.engine.messages import UNSIGNED, Signed
from runops.engine.plan import DONE, FAILED, SKIPPED, Plan, PlannedRun, RunResult, result_for
from runops.engine.selection import (
    read_by_id,
)
from runops.features.cancel.plan import check_plan
from runops.features.cancel.request import (
    PLAN_ACTION,
    TERMINAL_TYPES,
    CancelAction,
)
from runops.prefect_api import flow_runs
from runops.prefect_api.client import sent_once
from runops.prefect_api.flow_runs import StateAnswer


def transition_id(plan: Plan, run_id: UUID, kind: str = "") -> UUID:
    """Stable per plan and run (or per plan and batch, named by its first run): a retried request
    after a lost answer is a duplicate the server recognises (PreventDuplicateTransitions) and
    the re-read recognises as ours, not a second transition."""
    return uuid.uuid5(run_id, f"runops-cancel:{plan.uid}{kind}")


def _judge(item: PlannedRun, answer: StateAnswer) -> RunResult:
    """By the returned state's TYPE: a REJECT that hands back Cancelled is a success."""
    state_type, after = answer.state_type, answer.state_name
    if state_type in (StateType.CANCELLED.value, StateType.CANCELLING.value):
        note = "" if state_type == StateType.CANCELLED.value else "its worker stops the process"
        return result_for(item, DONE, after, note)
    if state_type in TERMINAL_VALUES:
        return result_for(item, SKIPPED, after, f"finished meanwhile: {answer.reason or after}")
    if answer.server_failed:
        return result_for(item, FAILED, None, f"the server could not change it: {answer.reason}")
    return result_for(item, FAILED, after, f"the server refused ({answer.status}): {answer.reason}")


TERMINAL_VALUES = frozenset(t.value for t in TERMINAL_TYPES)
NOT_STARTED_OR_ACTIVE = (StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED)


def batch_key(item: PlannedRun) -> str:
    """Runs that get the same proposal can share one bulk call."""
    return CancelAction.FORCE_CANCEL if item.action == CancelAction.FORCE_CANCEL else CancelAction.CANCEL


class CancelBatch:
    """Cancels a batch of planned runs with one conditional bulk call.

    1. Re-read and change in one request: `/flow_runs/bulk_set_state` with a filter of the
       batch's ids AND a not-finished state type; the server reads each run right before it
       proposes Cancelling (without force, as Prefect's CLI does) under its orchestration rules.
       A client-side read first would only add a request and a window between read and change.
       Runs stuck in Cancelling (force option) get Cancelled, filtered by ids AND Cancelling.
    2. Runs missing from the answer did not match any more: one read says why (finished,
       cancelling, deleted), or shows the state is ours (an earlier attempt whose answer was
       lost), and each is reported so.
    Safe to repeat for the same batch: the engine retries a batch whose request failed.
    """

    def __init__(self, plan: Plan, signed: Signed = UNSIGNED, sent: Iterable[UUID] = ()) -> None:
        self.plan = plan
        self.signed = signed
        self.bulk = True  # False once the API turns out to lack /flow_runs/bulk_set_state
        # runs whose proposal may have reached the server without an answer (a lost answer, or a
        # process of this job that died before it wrote them): on the retry their
        # Cancelled/Cancelling is our doing (the server's Cancelled for a not-started run does
        # not carry our transition id)
        self.sent: set[UUID] = set(sent)

    def ours(self, batch: Sequence[PlannedRun], run: FlowRun) -> bool:
        """Whether the run's current state came from this plan (this batch, or one run of it)."""
        if run.id in self.sent:
            return True
        mark = run.state.state_details.transition_id if run.state is not None else None
        kind = batch_key(batch[0])
        return mark is not None and mark in {
            transition_id(self.plan, batch[0].run_id, kind),
            transition_id(self.plan, batch[0].run_id, "signed"),
            transition_id(self.plan, run.id),
        }

    def as_found(
        self, batch: Sequence[PlannedRun], item: PlannedRun, run: FlowRun | None
    ) -> RunResult | None:
        """The result for a run that needs no change (None: it still needs one)."""
        if run is None:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        state = run.state
        if state is None:
            return None
        if state.type in TERMINAL_TYPES:
            if state.type == StateType.CANCELLED and self.ours(batch, run):
                return result_for(item, DONE, state.name, "confirmed on re-read")
            why = f"finished meanwhile: now {state.name}" if state.name != item.state else "already finished"
            return result_for(item, SKIPPED, state.name, why)
        if state.type == StateType.CANCELLING and item.action != CancelAction.FORCE_CANCEL:
            if self.ours(batch, run):
                return result_for(item, DONE, state.name, "confirmed on re-read")
            return result_for(item, SKIPPED, state.name, "already cancelling")
        if item.action == CancelAction.FORCE_CANCEL and state.type != StateType.CANCELLING:
            return result_for(item, SKIPPED, state.name, f"no longer stuck in Cancelling: now {state.name}")
        return None

    async def __call__(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        force = batch_key(batch[0]) == CancelAction.FORCE_CANCEL
        answers = await self.change(client, batch, force)
        if self.signed.reason:  # the why belongs on the run, at one more request per batch
            signature = transition_id(self.plan, batch[0].run_id, "signed")
            await flow_runs.sign_cancelled(client, answers, self.signed.message("cancelled"), signature)
        results: dict[UUID, RunResult] = {
            item.run_id: _judge(item, answers[item.run_id]) for item in batch if item.run_id in answers
        }
        missing = [item for item in batch if item.run_id not in answers]
        if missing:  # did not match the filter: finished, cancelling, deleted — or ours already
            now = await read_by_id(client, [item.run_id for item in missing])
            for item in missing:
                run = now.get(item.run_id)
                results[item.run_id] = self.as_found(batch, item, run) or result_for(
                    item,
                    FAILED,
                    run.state_name if run is not None else None,
                    "the server left it unchanged; cancel what failed again",
                )
        return [results[item.run_id] for item in batch]

    async def change(
        self, client: PrefectClient, batch: Sequence[PlannedRun], force: bool
    ) -> dict[UUID, StateAnswer]:
        todo = list(batch)
        if force:
            # Cancelling → Cancelled passes the core policy without force; only runs still Cancelling
            proposal: State = Cancelled(
                message=self.signed.message("marked cancelled", "stuck in Cancelling")
            )
            allowed: tuple[StateType, ...] = (StateType.CANCELLING,)
        else:
            proposal = Cancelling(message=self.signed.message("cancelled"))
            allowed = NOT_STARTED_OR_ACTIVE
        if self.bulk:
            where = FlowRunFilter(
                id=FlowRunFilterId(any_=[item.run_id for item in todo]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(allowed))),
            )
            transition = transition_id(self.plan, batch[0].run_id, batch_key(batch[0]))
            try:
                # a try that reached the server must not be hidden: a retry recognises these as ours
                with sent_once(self.sent, (item.run_id for item in todo)):
                    return await flow_runs.bulk_set_flow_run_state(
                        client, where, proposal, limit=len(todo), transition_id=transition
                    )
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code not in (404, 405):
                    raise
                self.bulk = False  # an API without the bulk endpoint: one proposal per run
        answers: dict[UUID, StateAnswer] = {}
        for item in todo:
            try:
                with sent_once(self.sent, [item.run_id], unchanged=(404,)):
                    result = await flow_runs.set_flow_run_state_with_transition(
                        client, item.run_id, proposal, transition_id(self.plan, item.run_id)
                    )
            except ObjectNotFound:
                continue  # reported from the re-read as deleted meanwhile
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 404:
                    continue
                raise
            answers[item.run_id] = StateAnswer.of(result)
        return answers


def cancel_batches(plan: Plan, signed: Signed = UNSIGNED, sent: Iterable[UUID] = ()) -> Batching:
    return Batching(CancelBatch(plan, signed, sent), key=batch_key, size=batch_size(len(plan.to_change)))


CANCEL = JobKind(PLAN_ACTION, check_plan, cancel_batches, preflight=True)
apply_cancel = CANCEL.apply
