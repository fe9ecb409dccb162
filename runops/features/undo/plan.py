"""The frozen undo plan: each run a job changed goes back, only if it is still exactly as the job left it.

The job's record holds every run's before (state, scheduled time) and the change it made (new
time, or the state a cancel or retry gave it). A run is "as the job left it" when:
- reschedule: still Scheduled (or Late), due at the job's new time (±1 s);
- cancel: still Cancelled, and the last state before the cancel was a not-started one (its
  history, read from the server: nothing ran or changed it since);
- retry: still Scheduled (or Late, not started), and the state before the retry's Scheduled was
  the final state the retry found, set no earlier than the job.
Undoing a retry puts the run back to that state's type and name (Failed, Crashed, Cancelled),
with a message saying so: Prefect cannot bring back a failed run's result or traceback, only its
state. Runs a cancel stopped (Pending, Running) and runs deleted or recreated cannot be undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, State, StateType

from runops.engine.plan import NOT_ATTEMPTED, SKIP, SKIPPED, Plan, PlannedRun
from runops.engine.selection import read_by_id
from runops.errors import BadInput
from runops.features.cancel.request import CancelAction
from runops.features.late.plan import scheduled_time
from runops.features.late.request import LateAction
from runops.features.retry.plan import RETRY
from runops.features.undo.options import UndoOptions
from runops.features.undo.request import (
    ACTION,
    CLOCK_SLACK,
    MOVE_BACK,
    NOT_UNDOABLE_STARTED,
    TIME_SLACK,
    UNCANCEL,
    UNRETRY,
    UndoRequest,
)
from runops.prefect_api.flow_runs import read_flow_run_states
from runops.prefect_api.paging import chunks
from runops.store.jobs import Job, JobRun
from runops.timefmt import in_zone

NOT_STARTED = ("Scheduled", "Late")  # the states a cancel may be undone from
CANCELLED_TYPES = frozenset({StateType.CANCELLED, StateType.CANCELLING})
PAST_NOTE = "its old time has passed: it will be Late again, as before"


def undo_action(item: PlannedRun) -> tuple[str, str]:
    """(what an undo does to a run the job changed, or SKIP; why not)."""
    if item.action == LateAction.RESCHEDULE:
        return MOVE_BACK, ""
    if item.action == LateAction.RECREATE:
        return SKIP, "cannot undo: the job replaced it by a recreated copy"
    if item.action == LateAction.DELETE:
        return SKIP, "cannot undo: the job deleted it"
    if item.action == RETRY:
        return UNRETRY, ""
    if item.action == CancelAction.CANCEL:  # also a reschedule's backlog cancel (the same word)
        if item.state in NOT_STARTED:
            return UNCANCEL, ""
        return SKIP, f"cannot undo: it was {item.state} when cancelled"
    if item.action in (CancelAction.MARK_CANCELLING, CancelAction.FORCE_CANCEL):
        return SKIP, f"was {item.state} when cancelled: {NOT_UNDOABLE_STARTED}"
    return SKIP, f"cannot undo {item.action!r}"


def settled_since(history: Sequence[State], since: datetime, before: set[str], after: set[str]) -> bool:
    """The run's last states are of types `after` (the job's change and what the server adds,
    e.g. Late), the one before them of a type in `before`, and that change came after `since`."""
    states = sorted(history, key=lambda s: s.timestamp)
    i = len(states)
    while i > 0 and states[i - 1].type.value in after:
        i -= 1
    if i == len(states) or i == 0:
        return False
    return states[i - 1].type.value in before and states[i].timestamp >= since


def as_left(
    action: str, original: PlannedRun, run: FlowRun, history: Sequence[State] | None, since: datetime
) -> str:
    """Why the run is no longer as the job left it ("" when it is)."""
    name = run.state.name if run.state else "no state"
    kind = run.state.type if run.state else None
    if action == UNCANCEL:
        if kind not in CANCELLED_TYPES:
            return f"changed since the job: now {name}"
        if not settled_since(
            history or (), since, {StateType.SCHEDULED.value}, {t.value for t in CANCELLED_TYPES}
        ):
            return f"changed since the job: {name} again after it ran or was changed"
        return ""
    if kind != StateType.SCHEDULED:
        return f"{'started or finished' if kind else 'changed'} since the job: now {name}"
    when = scheduled_time(run)
    expected = original.new_time
    if expected is not None and (when is None or abs(when - expected) > TIME_SLACK):
        return f"rescheduled since the job: now due {in_zone(when) if when else 'at no time'}"
    if action == UNRETRY and not settled_since(
        history or (), since, {original.state_type or ""}, {StateType.SCHEDULED.value}
    ):
        return "changed since the retry: it ran, or was retried or rescheduled again"
    return ""


async def current_runs(client: PrefectClient, ids: list[UUID]) -> dict[UUID, FlowRun]:
    found: dict[UUID, FlowRun] = {}
    for chunk in chunks(ids):
        found.update(await read_by_id(client, list(chunk)))
    return found


def _undo_item(
    original: PlannedRun, run: FlowRun | None, action: str, reason: str, now: datetime
) -> PlannedRun:
    """The undo's row for one run: its state now, the time it goes back to, or why it stays."""
    if run is None:
        action, reason = SKIP, reason or "deleted since the job"
    target = original.scheduled_time if action in (MOVE_BACK, UNCANCEL) else None
    warnings = (PAST_NOTE,) if action != SKIP and target is not None and target <= now else ()
    if action == UNRETRY:
        reason = f"back to {original.state}"
    return PlannedRun(
        run_id=original.run_id,
        name=original.name,
        deployment=original.deployment,
        state="deleted" if run is None else run.state.name if run.state else "—",
        action=action,
        scheduled_time=scheduled_time(run) if run else original.new_time,
        new_time=target,
        reason=reason,
        warnings=warnings,
        flow=original.flow,
        state_type=run.state.type.value if run and run.state else None,
    )


async def plan_undo(client: PrefectClient, request: UndoRequest) -> Plan:
    """Read every run the job may have changed, as it is now; decide per run; changes nothing."""
    job = request.job()
    # runs the job skipped or never sent are as they were; done, failed and unanswered ones may
    # have been changed (a lost answer): the check below says which are as the job left them
    runs = [r for r in request.store.jobs.runs(job.id) if r.outcome not in (SKIPPED, NOT_ATTEMPTED)]
    runs = [r for r in runs if r.item.action != SKIP]
    if not runs:
        raise BadInput(f"Nothing to undo: job {job.id} changed no run.")
    current = await current_runs(client, [r.item.run_id for r in runs])
    since = job.started - CLOCK_SLACK
    items = [await _decide(client, r, current.get(r.item.run_id), since, request.now) for r in runs]
    return Plan(
        action=ACTION,
        selection=f"undo of job {job.id} ({job.action}: {job.selection})",
        items=tuple(items),
        policy=_policy(job),
        matched=len(runs),
        created_at=request.now,
        options=_options(job, since, runs),
    )


async def _decide(
    client: PrefectClient, record: JobRun, run: FlowRun | None, since: datetime, now: datetime
) -> PlannedRun:
    original = record.item
    action, reason = undo_action(original)
    if run is not None and action != SKIP:
        history = await read_flow_run_states(client, run.id) if action in (UNCANCEL, UNRETRY) else None
        reason = as_left(action, original, run, history, since)
        if reason:
            action = SKIP
    return _undo_item(original, run, action, reason, now)


def _policy(job: Job) -> str:
    return (
        f"Put back each run job {job.id} changed, only if it is still exactly as the job left it: "
        "rescheduled runs to their old time, cancelled not-started runs to Scheduled at their old "
        "time, retried runs not started yet to the final state they had"
    )


def _options(job: Job, since: datetime, runs: Sequence[JobRun]) -> dict[str, Any]:
    restore = {str(r.item.run_id): (r.item.state_type, r.item.state) for r in runs if r.item.action == RETRY}
    return UndoOptions(since=since, undo_of=job.id, undone_action=job.action, restore=restore).as_dict()


def started_runs(plan: Plan) -> list[PlannedRun]:
    """Runs a cancel stopped (they had a process): not undoable; a retry may run them again."""
    return [item for item in plan.items if item.action == SKIP and NOT_UNDOABLE_STARTED in item.reason]


def summary(plan: Plan) -> dict[str, int]:
    counts = plan.counts()
    return {"undo": len(plan.to_change), "skip": counts.get(SKIP, 0)}
