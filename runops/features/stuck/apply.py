"""Apply a stuck-runs plan: mark Crashed/Cancelled (only runs still in the state they were found in), then optionally retry.

"Forced" in the sense that no worker is asked: the proposal itself goes without `force`, so
the server's rules still refuse it on a run that finished meanwhile (verified on prefect 3.9.1:
Running/Pending → Crashed and Cancelling → Cancelled pass the core policy; Cancelling →
Crashed is refused, hence Cancelled for those).
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterable, Sequence
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateName,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Cancelled, Crashed, State

from runops.engine.apply import Batching, batch_size
from runops.engine.kind import JobKind
from runops.engine.messages import UNSIGNED, Signed
from runops.engine.plan import DONE, FAILED, SKIPPED, Plan, PlannedRun, RunResult, result_for
from runops.engine.selection import read_by_id
from runops.errors import BadInput
from runops.features.retry.apply import RETRIED_TYPES, propose_retry
from runops.features.stuck.options import StuckOptions
from runops.features.stuck.plan import MARK_CANCELLED, MARK_CRASHED, PLAN_ACTION
from runops.prefect_api import flow_runs
from runops.prefect_api.client import sent_once
from runops.prefect_api.flow_runs import StateAnswer

TARGET = {MARK_CRASHED: StateType.CRASHED, MARK_CANCELLED: StateType.CANCELLED}
MARKED = "marked"  # a run this plan has marked already: only the retry (if asked) is left


def transition_id(plan: Plan, run_id: UUID, kind: str) -> UUID:
    return uuid.uuid5(run_id, f"runops-stuck-{kind}:{plan.uid}")


class StuckBatch:
    """One batch of runs found stuck in the same state: re-read (skip what moved on), one
    conditional bulk mark (ids AND that state name), then one bulk retry of the marked runs."""

    def __init__(self, plan: Plan, signed: Signed = UNSIGNED, sent: Iterable[UUID] = ()) -> None:
        self.plan = plan
        options = StuckOptions.of(plan.options)
        self.retry, self.state_ids = options.retry, options.state_ids
        self.signed = signed
        self.sent: set[UUID] = set(sent)

    def ours(self, batch: Sequence[PlannedRun], run: FlowRun, kind: str) -> bool:
        if run.id in self.sent:
            return True
        mark = run.state.state_details.transition_id if run.state is not None else None
        return mark is not None and mark in {
            transition_id(self.plan, batch[0].run_id, kind),
            transition_id(self.plan, run.id, kind),
        }

    def as_found(
        self, batch: Sequence[PlannedRun], item: PlannedRun, run: FlowRun | None
    ) -> RunResult | str | None:
        """None: still as found (mark it); MARKED: marked by this plan already; else its result."""
        if run is None:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        state = run.state
        if state is not None and str(state.id) == self.state_ids.get(str(item.run_id)):
            return None
        name = state.name if state is not None else "no state"
        if state is not None and state.type == TARGET[item.action] and self.ours(batch, run, "mark"):
            return MARKED if self.retry else result_for(item, DONE, name, "confirmed on re-read")
        if (
            self.retry
            and state is not None
            and state.type in RETRIED_TYPES
            and self.ours(batch, run, "retry")
        ):
            return result_for(item, DONE, name, "marked, then retried (confirmed on re-read)")
        return result_for(item, SKIPPED, name, f"changed since the preview: now {name}")

    def proposal(self, item: PlannedRun) -> State:
        why = f"stuck: {item.reason}" if item.reason else "stuck"
        if item.action == MARK_CANCELLED:
            return Cancelled(message=self.signed.message("marked cancelled", why))
        return Crashed(message=self.signed.message("marked crashed", why))

    async def __call__(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        results: dict[UUID, RunResult] = {}
        todo: list[PlannedRun] = []
        marked: list[PlannedRun] = []
        found = await read_by_id(client, [item.run_id for item in batch])
        for item in batch:
            verdict = self.as_found(batch, item, found.get(item.run_id))
            if verdict is None:
                todo.append(item)
            elif verdict == MARKED:
                marked.append(item)
            else:
                assert isinstance(verdict, RunResult)
                results[item.run_id] = verdict
        if todo:
            answers = await self.mark(client, batch, todo)
            for item in todo:
                result = self.judge(item, answers.get(item.run_id))
                if result is None:
                    marked.append(item)
                else:
                    results[item.run_id] = result
        results.update(await self.after_mark(client, batch, marked))
        return [results[item.run_id] for item in batch]

    async def mark(
        self, client: PrefectClient, batch: Sequence[PlannedRun], todo: list[PlannedRun]
    ) -> dict[UUID, StateAnswer]:
        ids = [item.run_id for item in todo]
        where = FlowRunFilter(
            id=FlowRunFilterId(any_=ids),
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=[todo[0].state])),
        )
        with sent_once(self.sent, ids):
            return await flow_runs.bulk_set_flow_run_state(
                client,
                where,
                self.proposal(todo[0]),
                limit=len(ids),
                transition_id=transition_id(self.plan, batch[0].run_id, "mark"),
            )

    def judge(self, item: PlannedRun, answer: StateAnswer | None) -> RunResult | None:
        """None: marked as planned (the retry may follow)."""
        if answer is None:
            return result_for(item, SKIPPED, None, "no longer in its state (finished or changed meanwhile)")
        if answer.state_type == TARGET[item.action].value:
            return None
        if answer.server_failed:
            return result_for(item, FAILED, None, f"the server could not change it: {answer.reason}")
        return result_for(item, SKIPPED, answer.state_name, answer.reason or "the server refused the change")

    async def after_mark(
        self, client: PrefectClient, batch: Sequence[PlannedRun], marked: list[PlannedRun]
    ) -> dict[UUID, RunResult]:
        """Marked runs are done; with the retry option, those of a deployment are retried now."""
        if not marked:
            return {}
        target = {item.run_id: TARGET[item.action].value.title() for item in marked}
        if not self.retry:
            return {item.run_id: result_for(item, DONE, target[item.run_id]) for item in marked}
        ids = [item.run_id for item in marked if item.deployment]
        answers: dict[UUID, StateAnswer] = {}
        if ids:
            types = sorted({TARGET[item.action].value for item in marked})
            with sent_once(self.sent, ids):
                answers = await propose_retry(
                    client,
                    ids,
                    types,
                    None,
                    transition_id(self.plan, batch[0].run_id, "retry"),
                    message=self.signed.message("retried", "after it was stuck"),
                )
        out: dict[UUID, RunResult] = {}
        for item in marked:
            answer = answers.get(item.run_id)
            if answer is not None and answer.state_type == StateType.SCHEDULED.value:
                out[item.run_id] = result_for(
                    item, DONE, answer.state_name, f"marked {target[item.run_id]}, then retried"
                )
            else:
                why = (
                    "not a deployment run"
                    if not item.deployment
                    else (answer.reason if answer else "changed meanwhile")
                )
                out[item.run_id] = result_for(item, DONE, target[item.run_id], f"marked; not retried: {why}")
        return out


def batch_key(item: PlannedRun) -> Hashable:
    """Runs found in the same state get the same proposal: one bulk call."""
    return (item.action, item.state)


def check_plan(plan: Plan) -> None:
    if not plan.to_change:
        raise BadInput("Nothing to clear: no stuck run is chosen.")


def stuck_batches(plan: Plan, signed: Signed = UNSIGNED, sent: Iterable[UUID] = ()) -> Batching:
    return Batching(StuckBatch(plan, signed, sent), key=batch_key, size=batch_size(len(plan.to_change)))


STUCK = JobKind(PLAN_ACTION, check_plan, stuck_batches)
apply_stuck = STUCK.apply
