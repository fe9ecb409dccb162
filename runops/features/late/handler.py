"""One late run at a time: changed only if it is still as the preview saw it (else skipped, with why)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterNextScheduledStartTime,
    FlowRunFilterState,
    FlowRunFilterStateName,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.states import Cancelling, Scheduled

from runops.engine.messages import UNSIGNED, Signed
from runops.engine.plan import DONE, FAILED, SKIPPED, Plan, PlannedRun, RunResult, result_for
from runops.errors import RunopsError
from runops.features.late.plan import (
    scheduled_time,
)
from runops.features.late.recreate import replacement_fields, replacements_of
from runops.features.late.request import (
    CANCEL_TYPES,
    LateAction,
    LateOptions,
    words_time,
)
from runops.prefect_api import flow_runs
from runops.prefect_api.client import sent_once
from runops.prefect_api.flow_runs import BULK_LIMIT, StateAnswer


async def set_state_where(
    client: PrefectClient,
    ids: list[UUID],
    state: State,
    states: tuple[str, ...],
    scheduled_at: datetime | None = None,
    scheduled_between: tuple[datetime, datetime] | None = None,
) -> dict[UUID, StateAnswer]:
    """Propose `state` to those of `ids` still in one of `states` and, if given, still due at
    `scheduled_at` (or within `scheduled_between`), in one call: the server checks the run's
    state in the same request as it changes it, so a run that started since the preview is
    left alone; runs missing from the answer did not match.
    """
    conditions: dict[str, Any] = {
        "id": FlowRunFilterId(any_=ids),
        "state": FlowRunFilterState(name=FlowRunFilterStateName(any_=list(states))),
    }
    if scheduled_at is not None:
        scheduled_between = (scheduled_at, scheduled_at)
    if scheduled_between is not None:
        conditions["next_scheduled_start_time"] = FlowRunFilterNextScheduledStartTime(
            after_=scheduled_between[0], before_=scheduled_between[1]
        )
    return await flow_runs.bulk_set_flow_run_state(client, FlowRunFilter(**conditions), state, limit=len(ids))


async def bulk_delete(client: PrefectClient, ids: list[UUID], states: tuple[str, ...]) -> set[UUID]:
    """Delete these runs, but only those still in one of `states`; returns the deleted ids."""
    deleted: set[UUID] = set()
    for start in range(0, len(ids), BULK_LIMIT):
        chunk = ids[start : start + BULK_LIMIT]
        flt = FlowRunFilter(
            id=FlowRunFilterId(any_=chunk),
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=list(states))),
        )
        deleted.update(await flow_runs.bulk_delete_flow_runs(client, flt))
    return deleted


class LateRunHandler:
    """Acts on one planned run, only if it is still as the preview saw it (else skipped, with why)."""

    def __init__(self, plan: Plan, sent: Iterable[UUID] = (), signed: Signed = UNSIGNED) -> None:
        self.allowed = LateOptions.of(plan.options).states
        self.signed = signed
        self.conditional = True  # False once the API turns out to lack /flow_runs/bulk_set_state
        # runs a request of this job may have changed although no answer said so (`sent_once`, or
        # a process of this job that died before it wrote their answers): found as this job
        # would leave them, they are done (by that request), not "moved on meanwhile"
        self.sent: set[UUID] = set(sent)

    def rescheduled(self, new_time: datetime) -> State:
        return Scheduled(scheduled_time=new_time, message=self.signed.message("rescheduled"))

    def cancelling(self) -> State:
        return Cancelling(message=self.signed.message("cancelled", "late backlog"))

    async def sign_cancelled(self, client: PrefectClient, answers: dict[UUID, StateAnswer]) -> None:
        """A late run has nothing to stop: the server cancels it with a bare Cancelled, which loses
        the message; with a reason to show, runops puts it back (one more request)."""
        if self.signed.reason:
            await flow_runs.sign_cancelled(client, answers, self.signed.message("cancelled", "late backlog"))

    async def __call__(self, client: PrefectClient, item: PlannedRun) -> RunResult:
        if item.action == LateAction.RESCHEDULE:
            return await self.reschedule(client, item)
        if item.action == LateAction.RECREATE:
            run, skipped = await self.reread(client, item)
            if run is None:
                return (await self.gone(client, [item]))[0]
            if skipped is not None:
                return (await self.drop_strays(client, [skipped]))[0]
            assert run is not None
            return await self.recreate(client, item, run)
        return result_for(item, SKIPPED, item.state, item.reason or "nothing to do")

    async def reread(
        self, client: PrefectClient, item: PlannedRun
    ) -> tuple[FlowRun | None, RunResult | None]:
        """The run as it is now, and a skip result if it moved on since the preview."""
        run = await flow_runs.read_flow_run(client, item.run_id)
        if run is None:
            return None, result_for(item, SKIPPED, None, "deleted meanwhile")
        return run, self.judge(item, run)

    def judge(self, item: PlannedRun, run: FlowRun) -> RunResult | None:
        """A skip result if the run moved on since the preview, a done one if a try of this job
        whose answer was lost did the change, else None (still as planned)."""
        name = run.state.name if run.state else "no state"
        when = scheduled_time(run)
        if item.new_time is not None and when == item.new_time and name == "Scheduled":
            if item.action == LateAction.RESCHEDULE and item.run_id in self.sent:
                return result_for(item, DONE, name, "confirmed on re-read")
            # an earlier job with this plan already did it (e.g. before a failure)
            return result_for(item, SKIPPED, name, "already scheduled for the new time")
        if item.action == LateAction.CANCEL and item.run_id in self.sent and run.state_type in CANCEL_TYPES:
            return result_for(item, DONE, name, "confirmed on re-read")
        if name not in self.allowed:
            return result_for(item, SKIPPED, name, f"now {name}")
        if item.scheduled_time is not None and when != item.scheduled_time:
            # someone (or something) moved it after the preview: their choice wins
            return result_for(item, SKIPPED, name, f"rescheduled meanwhile to {words_time(when)}")
        if item.action == LateAction.RECREATE and run.deployment_id is None:
            return result_for(item, SKIPPED, item.state, "not a deployment run: cannot recreate it")
        return None

    async def reschedule(self, client: PrefectClient, item: PlannedRun) -> RunResult:
        assert item.new_time is not None
        state = self.rescheduled(item.new_time)
        if self.conditional:
            try:
                with sent_once(self.sent, [item.run_id]):
                    answers = await set_state_where(
                        client, [item.run_id], state, self.allowed, scheduled_at=item.scheduled_time
                    )
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code not in (404, 405):
                    raise
                self.conditional = False  # an API without the bulk endpoint: re-read, then set
            else:
                if item.run_id in answers:
                    return _rescheduled(item, answers[item.run_id])
        # not changed by the server: say why, or (still as planned) change it after a re-read
        _, skipped = await self.reread(client, item)
        if skipped is not None:
            return skipped
        with sent_once(self.sent, [item.run_id]):
            answer = await flow_runs.set_flow_run_state(client, item.run_id, state)
        if answer is None:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        return _rescheduled(item, answer)

    async def cancel(
        self, client: PrefectClient, item: PlannedRun, answers: dict[UUID, StateAnswer]
    ) -> RunResult:
        """`answers`: its batch's conditional Cancelling call; a run not in it is re-read first."""
        if item.run_id in answers:
            return _cancelled(item, answers[item.run_id])
        _, skipped = await self.reread(client, item)
        if skipped is not None:
            return skipped
        with sent_once(self.sent, [item.run_id]):  # still late, yet not in the batch's answer: on its own
            answer = await flow_runs.set_flow_run_state(client, item.run_id, self.cancelling())
        if answer is None:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        await self.sign_cancelled(client, {item.run_id: answer})
        return _cancelled(item, answer)

    async def delete(self, client: PrefectClient, item: PlannedRun, deleted: set[UUID]) -> RunResult:
        """`deleted`: what its batch's `bulk_delete` (ids AND a not-started state) removed."""
        if item.run_id in deleted:
            return result_for(item, DONE, "Deleted")
        run, skipped = await self.reread(client, item)
        if run is None:
            if item.run_id in self.sent:
                return result_for(item, DONE, "Deleted", "confirmed on re-read")
            return result_for(item, SKIPPED, None, "already gone (deleted meanwhile)")
        if skipped is not None:
            return skipped
        with sent_once(self.sent, [item.run_id]):
            deleted = await bulk_delete(client, [item.run_id], self.allowed)
        if item.run_id in deleted:
            return result_for(item, DONE, "Deleted")
        return result_for(item, FAILED, item.state, "the server did not delete it; run the job again")

    async def recreate(self, client: PrefectClient, item: PlannedRun, run: FlowRun) -> RunResult:
        """Replacement first (every field copied, key derived from the original), original deleted after."""
        assert item.new_time is not None and run.deployment_id is not None
        replacement = await flow_runs.create_flow_run_from_deployment(
            client, run.deployment_id, **replacement_fields(item, run, self.signed)
        )
        await self.retime(client, [(item, replacement)])
        if run.id in await bulk_delete(client, [run.id], self.allowed):
            return result_for(
                item, DONE, "Scheduled", f"replaced by run {replacement.id}", replacement_id=replacement.id
            )
        return await self.keep_original(client, item, replacement.id)

    async def retime(self, client: PrefectClient, made: list[tuple[PlannedRun, FlowRun]]) -> None:
        """Replacements made by an earlier attempt for another time: move them to this plan's time.
        A replacement deleted meanwhile raises, so that its original is not deleted after it."""
        for item, replacement in made:
            if (
                replacement.state_type == StateType.SCHEDULED
                and replacement.next_scheduled_start_time != item.new_time
            ):
                assert item.new_time is not None
                state = self.rescheduled(item.new_time)
                if await flow_runs.set_flow_run_state(client, replacement.id, state) is None:
                    raise RunopsError(
                        f"its replacement {replacement.id} was deleted meanwhile; the original is kept"
                    )

    async def keep_original(self, client: PrefectClient, item: PlannedRun, replacement_id: UUID) -> RunResult:
        """The original moved on between the re-read and the delete: keep it, drop the copy."""
        current = await flow_runs.read_flow_run(client, item.run_id)
        if current is None:
            return result_for(
                item, DONE, "Scheduled", f"replaced by run {replacement_id}", replacement_id=replacement_id
            )
        await flow_runs.delete_flow_run(client, replacement_id)
        name = current.state.name if current.state else "no state"
        return result_for(item, SKIPPED, name, f"now {name}; its replacement was removed again")

    async def drop_strays(self, client: PrefectClient, skipped: list[RunResult]) -> list[RunResult]:
        """Originals kept (they moved on) must not also have a replacement: an earlier attempt
        may have made one before it failed. Remove it while it has not started; say so."""
        strays = await replacements_of(client, [result.run_id for result in skipped])
        out = []
        for result in skipped:
            stray = strays.get(result.run_id)
            if stray is None:
                out.append(result)
            elif stray.state_type == StateType.SCHEDULED:
                await flow_runs.delete_flow_run(client, stray.id)
                out.append(replace(result, reason=f"{result.reason}; its replacement was removed again"))
            else:
                out.append(
                    replace(
                        result, reason=f"{result.reason}; its replacement {stray.id} is {stray.state_name}"
                    )
                )
        return out

    async def gone(self, client: PrefectClient, items: list[PlannedRun]) -> list[RunResult]:
        """Originals no longer found: done if our replacement exists (an earlier attempt did the
        job), else deleted meanwhile — in one read."""
        found = await replacements_of(client, [item.run_id for item in items])
        return [
            result_for(item, DONE, r.state_name, f"replaced by run {r.id}", replacement_id=r.id)
            if (r := found.get(item.run_id)) is not None
            else result_for(item, SKIPPED, None, "deleted meanwhile")
            for item in items
        ]


def _server_failed(item: PlannedRun, answer: StateAnswer) -> RunResult:
    return result_for(item, FAILED, None, f"the server could not change it: {answer.reason}")


def _rescheduled(item: PlannedRun, answer: StateAnswer) -> RunResult:
    if answer.server_failed:
        return _server_failed(item, answer)
    if answer.state_type == StateType.SCHEDULED.value and answer.state_name == "Scheduled":
        return result_for(item, DONE, answer.state_name)
    return result_for(item, SKIPPED, answer.state_name, answer.reason or "the server refused the change")


def _cancelled(item: PlannedRun, answer: StateAnswer) -> RunResult:
    # Cancelling without force: the server cancels a not-started run atomically and never
    # overwrites a finished one. It may answer REJECT while the run *is* Cancelled, so
    # judge by the returned state's type, not by the status.
    if answer.server_failed:
        return _server_failed(item, answer)
    if answer.state_type == StateType.CANCELLED.value:
        return result_for(item, DONE, answer.state_name)
    if answer.state_type == StateType.CANCELLING.value:
        return result_for(item, DONE, answer.state_name, "waiting for its worker to stop it")
    return result_for(item, SKIPPED, answer.state_name, answer.reason or "the server refused to cancel it")
