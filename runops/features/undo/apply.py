"""Apply an undo plan: each run re-read, checked, and changed back by a proposal the server makes conditional."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterNextScheduledStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.exceptions import ObjectNotFound
from prefect.states import Scheduled

from runops.engine.kind import JobKind
from runops.engine.messages import UNSIGNED, Signed
from runops.engine.plan import DONE, FAILED, SKIPPED, Plan, PlannedRun, RunResult, result_for
from runops.errors import BadInput
from runops.features.late.plan import scheduled_time
from runops.features.undo.options import UndoOptions
from runops.features.undo.plan import CANCELLED_TYPES, as_left
from runops.features.undo.request import ACTION, MOVE_BACK, TIME_SLACK, UNCANCEL, UNRETRY
from runops.prefect_api import flow_runs
from runops.prefect_api.client import sent_once
from runops.prefect_api.flow_runs import StateAnswer

VERBS = {MOVE_BACK: "moved back", UNCANCEL: "un-cancelled", UNRETRY: "put back"}


def transition_id(plan: Plan, run_id: UUID) -> UUID:
    """Stable per plan and run: a re-read recognises the state as this undo's (a resume too)."""
    return uuid.uuid5(run_id, f"runops-undo:{plan.uid}")


def state_name(run: FlowRun) -> str:
    return run.state.name if run.state else "no state"


class UndoHandler:
    """Puts one run back, only if it is still as the preview saw it (else skipped, with why)."""

    def __init__(self, plan: Plan, signed: Signed = UNSIGNED, sent: Iterable[UUID] = ()) -> None:
        self.plan = plan
        options = UndoOptions.of(plan.options)
        self.since, self.restore = options.since, options.restore
        self.detail = f"undo of job {options.undo_of}"
        self.signed = signed
        # runs a request of this undo may have changed without an answer (`sent_once`, or a
        # process of this job that died before writing their answers)
        self.sent: set[UUID] = set(sent)

    def target(self, item: PlannedRun) -> State:
        if item.action == UNRETRY:
            type_, name = self.restore[str(item.run_id)]
            verb = f"{VERBS[UNRETRY]} to {name}"
            return State(type=StateType(type_), name=name, message=self.message(verb))
        return Scheduled(scheduled_time=item.new_time, message=self.message(VERBS[item.action]))

    def message(self, verb: str) -> str:
        return self.signed.message(verb, self.detail)

    def expected(self, item: PlannedRun) -> PlannedRun:
        """The run as the preview saw it, in the terms `as_left` reads a job's record in."""
        type_ = (self.restore.get(str(item.run_id)) or [None])[0]
        return replace(item, new_time=item.scheduled_time, state_type=type_)

    def ours(self, item: PlannedRun, run: FlowRun) -> bool:
        """Already as this undo leaves it: its own state, or a request without an answer did it."""
        state = run.state
        if state is None:
            return False
        if state.state_details.transition_id == transition_id(self.plan, item.run_id):
            return True
        if item.run_id not in self.sent:
            return False
        if item.action == UNRETRY:
            return state.type.value == self.restore[str(item.run_id)][0]
        when = scheduled_time(run)
        return (
            state.type == StateType.SCHEDULED
            and when is not None
            and item.new_time is not None
            and abs(when - item.new_time) <= TIME_SLACK
        )

    async def reread(self, client: PrefectClient, item: PlannedRun) -> FlowRun | RunResult:
        """The run as it is now, or its result if it is gone or already as this undo leaves it."""
        run = await flow_runs.read_flow_run(client, item.run_id)
        if run is None:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        if self.ours(item, run):
            return result_for(item, DONE, state_name(run), "confirmed on re-read")
        return run

    async def __call__(self, client: PrefectClient, item: PlannedRun) -> RunResult:
        run = await self.reread(client, item)
        if isinstance(run, RunResult):
            return run
        name = state_name(run)
        history = await flow_runs.read_flow_run_states(client, run.id) if item.action != MOVE_BACK else None
        why = as_left(item.action, self.expected(item), run, history, self.since)
        if why:
            return result_for(item, SKIPPED, name, why)
        try:
            with sent_once(self.sent, [item.run_id]):
                answers = await flow_runs.bulk_set_flow_run_state(
                    client, self.where(item), self.target(item), 1, transition_id(self.plan, item.run_id)
                )
        except ObjectNotFound:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        if item.run_id in answers:
            return self.judge(item, answers[item.run_id])
        return await self.missed(client, item)

    def where(self, item: PlannedRun) -> FlowRunFilter:
        """The run, only while in the state (and at the time) the preview saw: checked by the
        server in the same request as the change."""
        types = list(CANCELLED_TYPES) if item.action == UNCANCEL else [StateType.SCHEDULED]
        conditions: dict[str, Any] = {
            "id": FlowRunFilterId(any_=[item.run_id]),
            "state": FlowRunFilterState(type=FlowRunFilterStateType(any_=types)),
        }
        if item.action != UNCANCEL and item.scheduled_time is not None:
            conditions["next_scheduled_start_time"] = FlowRunFilterNextScheduledStartTime(
                after_=item.scheduled_time - TIME_SLACK, before_=item.scheduled_time + TIME_SLACK
            )
        return FlowRunFilter(**conditions)

    def judge(self, item: PlannedRun, answer: StateAnswer) -> RunResult:
        wanted = self.target(item)
        if answer.state_type == wanted.type.value and answer.state_name == wanted.name:
            return result_for(item, DONE, answer.state_name)
        if answer.server_failed:
            return result_for(item, FAILED, None, f"the server could not change it: {answer.reason}")
        return result_for(item, SKIPPED, answer.state_name, answer.reason or "the server refused the change")

    async def missed(self, client: PrefectClient, item: PlannedRun) -> RunResult:
        """The conditional call matched nothing: the run changed between the re-read and the call."""
        run = await self.reread(client, item)
        if isinstance(run, RunResult):
            return run
        name = state_name(run)
        return result_for(item, SKIPPED, name, f"changed just before the undo: now {name}")


def check_plan(plan: Plan) -> None:
    if not plan.to_change:
        raise BadInput("Nothing to undo: no run is still as the job left it.")


UNDO = JobKind(ACTION, check_plan, UndoHandler)
apply_undo = UNDO.apply
