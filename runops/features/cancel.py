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
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
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
from prefect.client.schemas.responses import OrchestrationResult
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling, State, to_state_create

from runops.engine.apply import ApplyOptions, Batching, Progress, batch_size
from runops.engine.execute import JobRef, StopSignal, execute
from runops.engine.plan import DONE, FAILED, SKIP, SKIPPED, Plan, PlannedRun, Report, RunResult, result_for
from runops.engine.selection import (
    PAGE_SIZE,
    ResolvedSelection,
    RunSelection,
    build_filters,
    count_runs,
    deployment_names_by_id,
    flow_names_by_id,
    iter_runs,
    read_by_id,
    resolve,
)
from runops.errors import BadInput
from runops.prefect_api import flow_runs
from runops.prefect_api.client import sent_once
from runops.prefect_api.flow_runs import Outcome
from runops.store import Store
from runops.timefmt import parse_time

CANCEL = "cancel"  # not started: the server makes it Cancelled at once
MARK_CANCELLING = "mark cancelling"  # has a process: Cancelling until its worker stops it
FORCE_CANCEL = "force cancel"  # stuck in Cancelling: mark Cancelled (explicit option only)

PLAN_ACTION = "cancel runs"
DEFAULT_STATES = ("Scheduled", "Late", "AwaitingRetry", "Pending", "Running", "Paused")
CANCELLABLE_STATES = (*DEFAULT_STATES, "Retrying", "Suspended", "Cancelling")
TERMINAL_TYPES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
ACTIVE_TYPES = tuple(t.value for t in StateType if t not in TERMINAL_TYPES)
MAX_RUNS = 50_000  # one confirmed job; more is almost certainly a selection mistake
MAX_SUBFLOW_DEPTH = 5

FORCE_WARNING = (
    "Force cancel marks runs stuck in Cancelling as Cancelled without stopping anything: "
    "if their process is still alive it keeps running."
)
POLICY = (
    "Propose Cancelling, as Prefect's CLI does: not-started runs become Cancelled at once, "
    "Pending/Running/Paused runs stay Cancelling until their worker stops them, finished runs "
    "are left alone"
)


@dataclass(frozen=True)
class CancelRequest:
    """What to cancel: a selection plus the two explicit options."""

    selection: RunSelection
    include_subflows: bool = False
    force_stuck: bool = False  # runs stuck in Cancelling → Cancelled (their process may live on)
    max_runs: int = MAX_RUNS


def with_default_states(selection: RunSelection) -> RunSelection:
    """No states chosen means the active ones, never "every run on the server"."""
    if selection.states or selection.state_types:
        return selection
    return replace(selection, states=DEFAULT_STATES)


WINDOW_FIELDS = {"scheduled": "scheduled time", "started": "start time"}


def _window_time(text: str, what: str, now: datetime, zone: str) -> datetime | None:
    raw = (text or "").strip()
    if not raw:
        return None  # open end
    try:
        return parse_time(raw, now=now, zone=zone)
    except BadInput as exc:
        raise BadInput(f"The {what} of the time window: {exc}") from None


def build_selection(
    states: Sequence[str] = (),
    deployments: Sequence[str] = (),
    flows: Sequence[str] = (),
    work_pools: Sequence[str] = (),
    tags: str | Sequence[str] = (),
    window_on: str = "scheduled",
    window_from: str = "",
    window_to: str = "",
    zone: str = "UTC",
    now: datetime | None = None,
) -> RunSelection:
    """A RunSelection from the page's form values (tags comma-separated, times as typed)."""
    if window_on not in WINDOW_FIELDS:
        raise BadInput(f"The time window applies to {' or '.join(WINDOW_FIELDS)}, not {window_on!r}.")
    now = now or datetime.now(UTC)
    after = _window_time(window_from, "start", now, zone)
    before = _window_time(window_to, "end", now, zone)
    if after and before and after >= before:
        raise BadInput("The time window ends before it starts: swap From and To.")
    tag_list = [t.strip() for t in tags.split(",")] if isinstance(tags, str) else list(tags)
    window = (
        {"scheduled_after": after, "scheduled_before": before}
        if window_on == "scheduled"
        else {"started_after": after, "started_before": before}
    )
    return RunSelection(
        states=tuple(states),
        deployments=tuple(deployments),
        flows=tuple(flows),
        work_pools=tuple(work_pools),
        tags=tuple(t for t in tag_list if t),
        zone=zone,
        **window,
    )


async def count_matching(client: PrefectClient, selection: RunSelection) -> int:
    """How many runs the selection matches (one `count_flow_runs` call after the names are checked)."""
    resolved = await resolve(client, with_default_states(selection))
    return await count_runs(client, resolved)


def action_for(run: FlowRun, force_stuck: bool = False) -> tuple[str, str, tuple[str, ...]]:
    """(action, note, warnings) for one run, from its current state."""
    state = run.state
    if state is None:
        return SKIP, "has no state", ()
    if state.type in TERMINAL_TYPES:
        return SKIP, f"already finished ({state.name})", ()
    if state.type == StateType.SCHEDULED:
        # AwaitingRetry may still hold infrastructure; the server then keeps it Cancelling
        if run.infrastructure_pid and state.name != "Resuming":
            return MARK_CANCELLING, "has infrastructure: its worker stops it", ()
        return CANCEL, "not started: becomes Cancelled", ()
    if state.type == StateType.PAUSED:
        if state.state_details.pause_reschedule:
            return CANCEL, "suspended, no process: becomes Cancelled", ()
        return MARK_CANCELLING, "paused in its process: its worker stops it", ()
    if state.type == StateType.CANCELLING:
        if force_stuck:
            return FORCE_CANCEL, "stuck in Cancelling: marked Cancelled", (FORCE_WARNING,)
        return SKIP, "already cancelling (choose force to mark stuck runs Cancelled)", ()
    # PENDING, RUNNING (also Retrying)
    return MARK_CANCELLING, "has a process: Cancelling until its worker stops it", ()


@dataclass(frozen=True)
class _Row:
    """A run reduced to what the plan needs, so 10,000 FlowRun objects are never held at once."""

    run_id: UUID
    name: str
    deployment_id: UUID | None
    flow_id: UUID
    state: str
    state_type: str
    scheduled_time: datetime | None
    action: str
    note: str
    warnings: tuple[str, ...]


def _row(run: FlowRun, force_stuck: bool, note_prefix: str = "") -> _Row:
    action, note, warnings = action_for(run, force_stuck)
    return _Row(
        run_id=run.id,
        name=run.name,
        deployment_id=run.deployment_id,
        flow_id=run.flow_id,
        state=run.state.name if run.state else "—",
        state_type=run.state.type.value if run.state else "",
        scheduled_time=run.next_scheduled_start_time or run.expected_start_time,
        action=action,
        note=f"{note_prefix}{note}",
        warnings=warnings,
    )


def _too_many(count: int, limit: int) -> BadInput:
    return BadInput(
        f"{count:,} runs match, more than the {limit:,} one job may cancel. Narrow the selection "
        "(deployment, flow, tag, time window) and cancel in parts."
    )


async def _subflow_rows(
    client: PrefectClient, parents: Sequence[UUID], seen: set[UUID], request: CancelRequest, room: int
) -> list[_Row]:
    """Not-finished sub-flow runs of `parents`, level by level (bounded depth and count)."""
    found: list[_Row] = []
    frontier = list(parents)
    for _ in range(MAX_SUBFLOW_DEPTH):
        children: list[UUID] = []
        for start in range(0, len(frontier), PAGE_SIZE):
            chunk = tuple(frontier[start : start + PAGE_SIZE])
            selection = RunSelection(state_types=ACTIVE_TYPES, parent_run_ids=chunk)
            resolved = ResolvedSelection(selection, build_filters(selection))
            async for page in iter_runs(client, resolved):
                for run in page:
                    if run.id in seen:
                        continue
                    seen.add(run.id)
                    found.append(_row(run, request.force_stuck, "sub-flow run; "))
                    children.append(run.id)
                    if len(found) > room:
                        raise _too_many(len(seen), request.max_runs)
        if not children:
            break
        frontier = children
    return found


async def plan_cancel(client: PrefectClient, request: CancelRequest) -> Plan:
    """The frozen plan: every matching run (all pages), each with its action or why it is skipped.
    No match is an empty plan, not an error: nothing to do (an unknown name is still refused)."""
    if request.max_runs <= 0:
        raise BadInput("The most runs to cancel must be more than zero.")
    selection = with_default_states(request.selection)
    resolved = await resolve(client, selection)
    matched = await count_runs(client, resolved)
    if matched > request.max_runs:
        raise _too_many(matched, request.max_runs)
    items = await _planned_runs(client, resolved, request) if matched else ()
    description = selection.describe()
    if request.include_subflows:
        description += ", with their sub-flow runs"
    policy = POLICY + (
        "; runs stuck in Cancelling are marked Cancelled (force)" if request.force_stuck else ""
    )
    return Plan(
        action=PLAN_ACTION,
        selection=description,
        items=items,
        policy=policy,
        matched=matched,
        options={"include_subflows": request.include_subflows, "force_stuck": request.force_stuck},
    )


async def _planned_runs(
    client: PrefectClient, resolved: ResolvedSelection, request: CancelRequest
) -> tuple[PlannedRun, ...]:
    rows: list[_Row] = []
    seen: set[UUID] = set()
    async for page in iter_runs(client, resolved):
        for run in page:
            # offset paging can repeat a run when others are created meanwhile: keep it once
            if run.id not in seen:
                seen.add(run.id)
                rows.append(_row(run, request.force_stuck))
        if len(rows) > request.max_runs:
            raise _too_many(len(rows), request.max_runs)
    if request.include_subflows and rows:
        rows.extend(
            await _subflow_rows(client, [r.run_id for r in rows], seen, request, request.max_runs - len(rows))
        )
    deployments = await deployment_names_by_id(client, {r.deployment_id for r in rows if r.deployment_id})
    flows = await flow_names_by_id(client, {r.flow_id for r in rows})
    return tuple(
        PlannedRun(
            run_id=r.run_id,
            name=r.name,
            deployment=deployments.get(r.deployment_id) if r.deployment_id else None,
            state=r.state,
            action=r.action,
            scheduled_time=r.scheduled_time,
            reason=r.note,
            warnings=r.warnings,
            flow=flows.get(r.flow_id),
            state_type=r.state_type,
        )
        for r in rows
    )


# -- apply -------------------------------------------------------------------------------------


def transition_id(plan: Plan, run_id: UUID, kind: str = "") -> UUID:
    """Stable per plan and run (or per plan and batch, named by its first run): a retried request
    after a lost answer is a duplicate the server recognises (PreventDuplicateTransitions) and
    the re-read recognises as ours, not a second transition."""
    return uuid.uuid5(run_id, f"runops-cancel:{plan.uid}{kind}")


async def _propose(
    client: PrefectClient, run_id: UUID, state: State, transition: UUID
) -> OrchestrationResult[Any]:
    """`set_flow_run_state` without force, with our own transition id (the client draws a new one)."""
    create = to_state_create(state)
    create.state_details.flow_run_id = run_id
    create.state_details.transition_id = transition
    response = await client.request(
        "POST",
        "/flow_runs/{id}/set_state",
        path_params={"id": run_id},
        json={"state": create.model_dump(mode="json", serialize_as_any=True), "force": False},
    )
    return OrchestrationResult.model_validate(response.json())


def _judge(item: PlannedRun, answer: Outcome) -> RunResult:
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
    return FORCE_CANCEL if item.action == FORCE_CANCEL else CANCEL


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

    def __init__(self, plan: Plan, actor: str = "", sent: Iterable[UUID] = ()) -> None:
        self.plan = plan
        self.by = f" by {actor}" if actor else ""
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
        if state.type == StateType.CANCELLING and item.action != FORCE_CANCEL:
            if self.ours(batch, run):
                return result_for(item, DONE, state.name, "confirmed on re-read")
            return result_for(item, SKIPPED, state.name, "already cancelling")
        if item.action == FORCE_CANCEL and state.type != StateType.CANCELLING:
            return result_for(item, SKIPPED, state.name, f"no longer stuck in Cancelling: now {state.name}")
        return None

    async def __call__(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        force = batch_key(batch[0]) == FORCE_CANCEL
        answers = await self.change(client, batch, force)
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
    ) -> dict[UUID, Outcome]:
        todo = list(batch)
        if force:
            # Cancelling → Cancelled passes the core policy without force; only runs still Cancelling
            proposal: State = Cancelled(
                message=f"Marked cancelled{self.by} with runops (stuck in Cancelling)"
            )
            allowed: tuple[StateType, ...] = (StateType.CANCELLING,)
        else:
            proposal = Cancelling(message=f"Cancelled{self.by} with runops")
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
                    return await flow_runs.set_state_where(
                        client, where, proposal, limit=len(todo), transition_id=transition
                    )
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code not in (404, 405):
                    raise
                self.bulk = False  # an API without the bulk endpoint: one proposal per run
        answers: dict[UUID, Outcome] = {}
        for item in todo:
            try:
                with sent_once(self.sent, [item.run_id], unchanged=(404,)):
                    result = await _propose(
                        client, item.run_id, proposal, transition_id(self.plan, item.run_id)
                    )
            except ObjectNotFound:
                continue  # reported from the re-read as deleted meanwhile
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 404:
                    continue
                raise
            answers[item.run_id] = Outcome.of(result)
        return answers


def cancel_batches(plan: Plan, actor: str = "", sent: Iterable[UUID] = ()) -> Batching:
    return Batching(CancelBatch(plan, actor, sent), key=batch_key, size=batch_size(len(plan.to_change)))


def default_options(plan: Plan) -> ApplyOptions:
    """Bounded in time as well as count: generous for the plan's size, never open-ended."""
    return ApplyOptions(time_limit_s=max(600.0, 2.0 * len(plan.to_change)))


def check_plan(plan: Plan) -> None:
    if not plan.to_change:
        raise BadInput("Nothing to cancel: every planned run is skipped.")


async def apply_cancel(
    client: PrefectClient,
    plan: Plan,
    *,
    actor: str,
    store: Store | None,
    progress: Progress | None = None,
    options: ApplyOptions | None = None,
    reason: str = "",
    stop: StopSignal | None = None,
    job: JobRef | None = None,
    sent: Iterable[UUID] = (),
) -> Report:
    """Apply a confirmed plan as a job: only its runs (frozen), each re-read first; audited.
    `sent`: runs an earlier process of this job may have changed (a resume)."""
    check_plan(plan)
    # One authenticated read first: an unreachable API or refused credentials stop the job here,
    # in words, instead of failing each of thousands of runs on its own.
    first = plan.to_change[0].run_id
    await client.count_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[first])))
    return await execute(
        client,
        plan,
        cancel_batches(plan, actor, sent),
        actor=actor,
        store=store,
        progress=progress,
        options=options or default_options(plan),
        reason=reason,
        stop=stop,
        job=job,
    )
