"""Late runs: plan and apply a safe bulk reschedule (shift, fixed or spread), in place or recreated."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
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
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelling, Scheduled

from runops.engine.apply import ApplyOptions, Batching, Progress, batch_size
from runops.engine.execute import JobRef, StopSignal, execute
from runops.engine.plan import DONE, FAILED, SKIPPED, Plan, PlannedRun, Report, RunResult, result_for
from runops.engine.selection import (
    RunSelection,
    deployment_names_by_id,
    list_deployments,
    read_all,
    read_by_id,
    resolve,
)
from runops.errors import BadInput
from runops.features.recreate import create_replacements, replacement_fields, replacements_of
from runops.features.schedules import SCHEDULE_WARNING, catch_up
from runops.prefect_api import flow_runs
from runops.prefect_api.client import explain, sent_once
from runops.prefect_api.flow_runs import BULK_LIMIT, Outcome
from runops.store import Store
from runops.timefmt import ensure_utc, format_duration, in_zone, parse_duration, parse_time

ACTION = "reschedule late runs"
RESCHEDULE, RECREATE, CANCEL, DELETE = "reschedule", "recreate", "cancel", "delete"
POLICIES = ("shift", "fixed", "spread")
REMAINDERS = ("leave", "cancel", "delete")
MODES = ("in_place", "recreate")
CREATE_ATTEMPTS = 2  # bulk tries for a row; then it is created on its own
# Only runs that have not started may be moved: never Pending/Running back to Scheduled.
RESCHEDULABLE_STATES = ("Late", "Scheduled")
CANCEL_BATCH = 25  # the server changes states one by one inside a call: keep each call short
CANCEL_TYPES = (StateType.CANCELLING, StateType.CANCELLED)
PAST_WARNING = "new time is in the past: the run will be Late again at once"
MAX_DELAY = timedelta(days=30)  # longer shifts need an explicit yes (allow_long)
LONG_DELAY_REFUSAL = "A delay of more than 30 days needs an explicit yes: --allow-long-delay"


def _duration(value: timedelta | str | None, what: str) -> timedelta:
    if value is None or value == "":
        raise BadInput(f"Give the {what}, e.g. 6h, 90m or 2d.")
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise BadInput(f"The {what} must be positive, not {format_duration(value)}.")
        return value
    return parse_duration(str(value))


def parse_limit(value: str | int | None) -> int | None:
    """N as typed ("10", "1,000"; empty: all of them) — a positive whole number or refused, never
    rounded or replaced by an earlier value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().replace(",", "").replace("_", "")
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise BadInput(
            f"N must be a positive whole number, e.g. 10 (empty for all of them); {str(value).strip()!r} is not."
        )
    return int(text)


def is_long_delay(value: timedelta | str | None) -> bool:
    """Whether a delay as typed is more than MAX_DELAY (False when it cannot be read: the
    request says why)."""
    try:
        return _duration(value, "delay") > MAX_DELAY
    except BadInput:
        return False


def _time(value: datetime | str | None, what: str, now: datetime, zone: str) -> datetime:
    if value is None or value == "":
        raise BadInput(f"Give the {what}, e.g. now+2h, 10:00 or 2026-11-27 10:00.")
    if isinstance(value, datetime):
        return ensure_utc(value)
    try:
        return parse_time(str(value), now=now, zone=zone)
    except BadInput as exc:
        raise BadInput(f"The {what}: {exc}") from None


@dataclass(frozen=True)
class RescheduleRequest:
    """What the team lead asked for; validated and normalised on construction (BadInput if wrong).

    Times may be given as text ("now+2h", ISO; without an offset in `zone`) and durations in people's units ("6h", "90m");
    they are parsed once here, so "now" means the moment of the request.
    """

    deployments: tuple[str, ...]
    policy: str = "shift"
    delay: timedelta | str | None = None
    at: datetime | str | None = None
    window_start: datetime | str | None = None
    window_end: datetime | str | None = None
    limit: int | None = None
    remainder: str = "leave"
    states: tuple[str, ...] = ("Late",)
    mode: str = "in_place"
    allow_past: bool = False
    allow_long: bool = False  # a shift of more than MAX_DELAY: almost always a typo (99999d)
    zone: str = "UTC"  # how to read a time typed without a zone ("2026-11-27 10:00")
    now: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        now = ensure_utc(self.now) if self.now else datetime.now(UTC)
        set_ = object.__setattr__  # normalising a frozen dataclass once, at construction
        set_(self, "now", now)
        given = [self.deployments] if isinstance(self.deployments, str) else list(self.deployments)
        names = tuple(d.strip() for d in given if d and d.strip())
        if not names:
            raise BadInput("Choose at least one deployment.")
        set_(self, "deployments", names)
        known = {s.lower(): s for s in RESCHEDULABLE_STATES}
        given_states = [self.states] if isinstance(self.states, str) else list(self.states)
        states = tuple(dict.fromkeys(known.get(s.strip().lower(), s) for s in given_states))
        if not states:
            raise BadInput("Choose at least one state: Late or Scheduled.")
        for state in states:
            if state not in RESCHEDULABLE_STATES:
                raise BadInput(
                    f"Only runs that have not started can be rescheduled; {state!r} is not one of "
                    f"{', '.join(RESCHEDULABLE_STATES)}."
                )
        set_(self, "states", states)
        if self.policy not in POLICIES:
            raise BadInput(f"Unknown policy {self.policy!r}; use one of {', '.join(POLICIES)}.")
        if self.remainder not in REMAINDERS:
            raise BadInput(f"Unknown choice for the rest {self.remainder!r}; use {', '.join(REMAINDERS)}.")
        if self.mode not in MODES:
            raise BadInput(f"Unknown mode {self.mode!r}; use in_place or recreate.")
        if self.limit is not None:
            if isinstance(self.limit, bool) or not isinstance(self.limit, int):
                raise BadInput(f"N must be a whole number, not {self.limit!r}.")
            if self.limit <= 0:
                raise BadInput(f"N must be at least 1 (got {self.limit}).")
        if self.policy == "shift":
            delay = _duration(self.delay, "delay")
            if delay > MAX_DELAY and not self.allow_long:
                raise BadInput(LONG_DELAY_REFUSAL)
            set_(self, "delay", delay)
        elif self.policy == "fixed":
            set_(self, "at", _time(self.at, "new time", now, self.zone))
        else:
            start = _time(self.window_start, "start of the window", now, self.zone)
            end = _time(self.window_end, "end of the window", now, self.zone)
            if end <= start:
                raise BadInput("The window must end after it starts.")
            set_(self, "window_start", start)
            set_(self, "window_end", end)

    def policy_words(self) -> str:
        if self.policy == "shift":
            assert isinstance(self.delay, timedelta)
            return f"shift each run by {format_duration(self.delay)} from its scheduled time"
        if self.policy == "fixed":
            return f"move to {_words_time(self.at, self.zone)}"
        start, end = _words_time(self.window_start, self.zone), _words_time(self.window_end, self.zone)
        return f"spread evenly from {start} to {end}"


def _words_time(value: object, zone: str = "UTC") -> str:
    assert isinstance(value, datetime)
    return in_zone(value, zone)


def scheduled_time(run: FlowRun) -> datetime | None:
    """When the run is due: the next scheduled start (moves on reschedule), else the expected start."""
    return run.next_scheduled_start_time or run.expected_start_time


def _new_times(request: RescheduleRequest, runs: list[FlowRun]) -> list[datetime]:
    """New times for `runs` (newest first), by the request's policy."""
    if request.policy == "shift":
        assert isinstance(request.delay, timedelta)
        return [(scheduled_time(r) or request.now) + request.delay for r in runs]  # type: ignore[operator]
    if request.policy == "fixed":
        assert isinstance(request.at, datetime)
        return [request.at] * len(runs)
    start, end = request.window_start, request.window_end
    assert isinstance(start, datetime) and isinstance(end, datetime)
    n = len(runs)
    if n <= 1:
        return [start] * n
    step = (end - start) / (n - 1)
    # the oldest run gets the earliest slot: the backlog keeps its order
    return [start + step * (n - 1 - i) for i in range(n)]


async def deployment_names(client: PrefectClient) -> list[str]:
    """Every deployment as "flow/deployment", for the page's multiselect."""
    return [name for name, _ in await list_deployments(client)]


async def plan_reschedule(client: PrefectClient, request: RescheduleRequest) -> Plan:
    """Read every matching run (all pages) and decide, per run, what happens; changes nothing."""
    now = request.now or datetime.now(UTC)
    # due before now by the time the run is due NOW: a run moved in place keeps its first
    # expected time, so a re-run of the same job never selects (and moves) it twice
    selection = RunSelection(
        states=request.states, deployments=request.deployments, scheduled_before=now, zone=request.zone
    )
    resolved = await resolve(client, selection)
    runs = await read_all(client, resolved, sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC)
    # newest scheduled first (the server only sorts this ascending); ties by id for a stable plan
    runs.sort(key=lambda r: (scheduled_time(r) or now, str(r.id)), reverse=True)
    names = await deployment_names_by_id(client, {r.deployment_id for r in runs if r.deployment_id})
    chosen = runs[: request.limit] if request.limit else runs
    rest = runs[len(chosen) :]
    items: list[PlannedRun] = []
    main_action = RECREATE if request.mode == "recreate" else RESCHEDULE
    schedule_made: dict[str, str] = {}  # deployment name → id, for runs its schedule made
    for run, new_time in zip(chosen, _new_times(request, chosen), strict=True):
        warnings = (PAST_WARNING,) if new_time <= now else ()
        if request.mode == "in_place" and run.auto_scheduled and run.deployment_id in names:
            warnings += (SCHEDULE_WARNING,)
            schedule_made[names[run.deployment_id]] = str(run.deployment_id)
        items.append(_item(run, names, main_action, new_time=new_time, warnings=warnings))
    if request.remainder != "leave":
        items.extend(_item(run, names, request.remainder) for run in rest)
    policy = request.policy_words()
    if request.mode == "recreate":
        policy += "; recreate each run (new id, every field copied) and delete the original after"
    else:
        policy += "; in place (same run: id, parameters, tags, job variables and history kept)"
    if rest:
        verb = {"leave": "leave", "cancel": "cancel", "delete": "delete"}[request.remainder]
        policy += f"; {verb} the other {len(rest):,} late run(s)"
    return Plan(
        action=ACTION,
        selection=selection.describe(),
        items=tuple(items),
        policy=policy,
        matched=len(runs),
        created_at=now,
        options={
            "states": list(request.states),
            "mode": request.mode,
            "remainder": request.remainder,
            "allow_past": request.allow_past,
            "left": len(rest) if request.remainder == "leave" else 0,
            "schedule_made": schedule_made,
        },
    )


def _item(
    run: FlowRun,
    names: dict[UUID, str],
    action: str,
    new_time: datetime | None = None,
    warnings: tuple[str, ...] = (),
) -> PlannedRun:
    return PlannedRun(
        run_id=run.id,
        name=run.name,
        deployment=names.get(run.deployment_id) if run.deployment_id else None,
        state=run.state.name if run.state else "?",
        action=action,
        scheduled_time=scheduled_time(run),
        new_time=new_time,
        warnings=warnings,
        state_type=run.state.type.value if run.state else None,
    )


def with_consent(plan: Plan) -> Plan:
    """The same plan with the user's explicit consent to new times in the past."""
    return replace(plan, options={**plan.options, "allow_past": True})


def past_items(plan: Plan, now: datetime | None = None) -> list[PlannedRun]:
    """Runs whose new time is (by now) in the past."""
    now = now or datetime.now(UTC)
    return [i for i in plan.to_change if i.new_time is not None and i.new_time <= now]


async def set_state_where(
    client: PrefectClient,
    ids: list[UUID],
    state: State,
    states: tuple[str, ...],
    scheduled_at: datetime | None = None,
    scheduled_between: tuple[datetime, datetime] | None = None,
) -> dict[UUID, Outcome]:
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
    return await flow_runs.set_state_where(client, FlowRunFilter(**conditions), state, limit=len(ids))


async def bulk_delete(client: PrefectClient, ids: list[UUID], states: tuple[str, ...]) -> set[UUID]:
    """Delete these runs, but only those still in one of `states`; returns the deleted ids."""
    deleted: set[UUID] = set()
    for start in range(0, len(ids), BULK_LIMIT):
        chunk = ids[start : start + BULK_LIMIT]
        flt = FlowRunFilter(
            id=FlowRunFilterId(any_=chunk),
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=list(states))),
        )
        response = await client.request(
            "POST",
            "/flow_runs/bulk_delete",
            json={"flow_runs": flt.model_dump(mode="json", exclude_unset=True), "limit": BULK_LIMIT},
        )
        deleted.update(UUID(str(i)) for i in response.json().get("deleted", []))
    return deleted


class LateRunHandler:
    """Acts on one planned run, only if it is still as the preview saw it (else skipped, with why)."""

    def __init__(self, plan: Plan, sent: Iterable[UUID] = ()) -> None:
        self.allowed = tuple(plan.options.get("states") or ("Late",))
        self.conditional = True  # False once the API turns out to lack /flow_runs/bulk_set_state
        # runs a request of this job may have changed although no answer said so (`sent_once`, or
        # a process of this job that died before it wrote their answers): found as this job
        # would leave them, they are done (by that request), not "moved on meanwhile"
        self.sent: set[UUID] = set(sent)

    async def __call__(self, client: PrefectClient, item: PlannedRun) -> RunResult:
        if item.action == RESCHEDULE:
            return await self.reschedule(client, item)
        if item.action == RECREATE:
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
        try:
            run = await client.read_flow_run(item.run_id)
        except ObjectNotFound:
            return None, result_for(item, SKIPPED, None, "deleted meanwhile")
        return run, self.judge(item, run)

    def judge(self, item: PlannedRun, run: FlowRun) -> RunResult | None:
        """A skip result if the run moved on since the preview, a done one if a try of this job
        whose answer was lost did the change, else None (still as planned)."""
        name = run.state.name if run.state else "no state"
        when = scheduled_time(run)
        if item.new_time is not None and when == item.new_time and name == "Scheduled":
            if item.action == RESCHEDULE and item.run_id in self.sent:
                return result_for(item, DONE, name, "confirmed on re-read")
            # an earlier job with this plan already did it (e.g. before a failure)
            return result_for(item, SKIPPED, name, "already scheduled for the new time")
        if item.action == CANCEL and item.run_id in self.sent and run.state_type in CANCEL_TYPES:
            return result_for(item, DONE, name, "confirmed on re-read")
        if name not in self.allowed:
            return result_for(item, SKIPPED, name, f"now {name}")
        if item.scheduled_time is not None and when != item.scheduled_time:
            # someone (or something) moved it after the preview: their choice wins
            return result_for(item, SKIPPED, name, f"rescheduled meanwhile to {_words_time(when)}")
        if item.action == RECREATE and run.deployment_id is None:
            return result_for(item, SKIPPED, item.state, "not a deployment run: cannot recreate it")
        return None

    async def reschedule(self, client: PrefectClient, item: PlannedRun) -> RunResult:
        assert item.new_time is not None
        state = Scheduled(scheduled_time=item.new_time)
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
        try:
            with sent_once(self.sent, [item.run_id]):
                result = await client.set_flow_run_state(item.run_id, state)
        except ObjectNotFound:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        return _rescheduled(item, Outcome.of(result))

    async def cancel(
        self, client: PrefectClient, item: PlannedRun, answers: dict[UUID, Outcome]
    ) -> RunResult:
        """`answers`: its batch's conditional Cancelling call; a run not in it is re-read first."""
        if item.run_id in answers:
            return _cancelled(item, answers[item.run_id])
        _, skipped = await self.reread(client, item)
        if skipped is not None:
            return skipped
        try:  # still late, yet not in the batch's answer: propose it on its own
            with sent_once(self.sent, [item.run_id]):
                result = await client.set_flow_run_state(item.run_id, Cancelling())
        except ObjectNotFound:
            return result_for(item, SKIPPED, None, "deleted meanwhile")
        return _cancelled(item, Outcome.of(result))

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
        replacement = await client.create_flow_run_from_deployment(
            run.deployment_id, **replacement_fields(item, run)
        )
        await self.retime(client, [(item, replacement)])
        if run.id in await bulk_delete(client, [run.id], self.allowed):
            return result_for(item, DONE, "Scheduled", f"replaced by run {replacement.id}")
        return await self.keep_original(client, item, replacement.id)

    async def retime(self, client: PrefectClient, made: list[tuple[PlannedRun, FlowRun]]) -> None:
        """Replacements made by an earlier attempt for another time: move them to this plan's time."""
        for item, replacement in made:
            if (
                replacement.state_type == StateType.SCHEDULED
                and replacement.next_scheduled_start_time != item.new_time
            ):
                await client.set_flow_run_state(replacement.id, Scheduled(scheduled_time=item.new_time))

    async def keep_original(self, client: PrefectClient, item: PlannedRun, replacement_id: UUID) -> RunResult:
        """The original moved on between the re-read and the delete: keep it, drop the copy."""
        try:
            current = await client.read_flow_run(item.run_id)
        except ObjectNotFound:
            return result_for(item, DONE, "Scheduled", f"replaced by run {replacement_id}")
        await client.delete_flow_run(replacement_id)
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
                await client.delete_flow_run(stray.id)
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
            result_for(item, DONE, r.state_name, f"replaced by run {r.id}")
            if (r := found.get(item.run_id)) is not None
            else result_for(item, SKIPPED, None, "deleted meanwhile")
            for item in items
        ]


class LateBatches:
    """One request per batch where the server takes many runs at once: runs getting the SAME new
    time (fixed policy, or equal times) share one conditional `/flow_runs/bulk_set_state`, a
    deployment's runs to recreate share one bulk create and one bulk delete, the rest of the
    backlog is cancelled 25 and deleted 50 a call; in-place shift and spread (every run its own
    time) go run by run through `LateRunHandler`."""

    SIZES: ClassVar[dict[Hashable, int]] = {CANCEL: CANCEL_BATCH, DELETE: BULK_LIMIT}

    def __init__(self, plan: Plan, sent: Iterable[UUID] = ()) -> None:
        self.each = LateRunHandler(plan, sent)
        self.bulk_create = True  # False once the API turns out to lack create_flow_run/bulk

    @staticmethod
    def key(item: PlannedRun) -> Hashable:
        if item.action in (RESCHEDULE, RECREATE):
            return (item.action, item.new_time if item.action == RESCHEDULE else item.deployment)
        return item.action if item.action in (CANCEL, DELETE) else item.run_id

    async def __call__(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        ids = [item.run_id for item in batch]
        if batch[0].action == CANCEL:
            with sent_once(self.each.sent, ids):
                answers = await set_state_where(client, ids, Cancelling(), self.each.allowed)
            return [await self.each.cancel(client, item, answers) for item in batch]
        if batch[0].action == DELETE:
            with sent_once(self.each.sent, ids):
                deleted = await bulk_delete(client, ids, self.each.allowed)
            return [await self.each.delete(client, item, deleted) for item in batch]
        if len(batch) > 1 and batch[0].action == RESCHEDULE and self.each.conditional:
            return await self.together(client, batch)
        if len(batch) > 1 and batch[0].action == RECREATE and self.bulk_create:
            return await self.recreate_together(client, batch)
        return [await self.each(client, item) for item in batch]

    async def together(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        new_time = batch[0].new_time
        assert new_time is not None
        due = [i.scheduled_time for i in batch if i.scheduled_time is not None]
        # The batch is a run of consecutive plan rows (newest first), so the range of their
        # scheduled times holds no other planned run: a run moved meanwhile falls outside it.
        between = (min(due), max(due)) if len(due) == len(batch) else None
        ids = [i.run_id for i in batch]
        try:
            with sent_once(self.each.sent, ids):
                answers = await set_state_where(
                    client,
                    ids,
                    Scheduled(scheduled_time=new_time),
                    self.each.allowed,
                    scheduled_between=between,
                )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code not in (404, 405):
                raise
            self.each.conditional = False
            return [await self.each(client, item) for item in batch]
        results: list[RunResult] = []
        for item in batch:
            if item.run_id in answers:
                results.append(_rescheduled(item, answers[item.run_id]))
            else:  # did not match: moved on, or done by an earlier attempt (the re-read says which)
                _, skipped = await self.each.reread(client, item)
                results.append(skipped or await self.each(client, item))
        return results

    async def recreate_together(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        """Recreate mode for a batch of one deployment's runs, in four requests instead of four
        per run: re-read them, create the replacements (one bulk call; keys derived from the
        originals, so a retry finds them), delete the originals still in an allowed state (one
        `bulk_delete`), then deal one by one with the few that moved on meanwhile."""
        results: dict[UUID, RunResult] = {}
        now = await read_by_id(client, [item.run_id for item in batch])
        gone = [item for item in batch if item.run_id not in now]
        if gone:
            results.update((r.run_id, r) for r in await self.each.gone(client, gone))
        by_deployment: dict[UUID, list[tuple[PlannedRun, FlowRun]]] = {}
        moved_on: list[RunResult] = []
        for item in batch:
            run = now.get(item.run_id)
            if run is None:
                continue
            skipped = self.each.judge(item, run)
            if skipped is not None:
                moved_on.append(skipped)
            else:
                assert run.deployment_id is not None  # judge skips the others
                by_deployment.setdefault(run.deployment_id, []).append((item, run))
        if moved_on:
            results.update((r.run_id, r) for r in await self.each.drop_strays(client, moved_on))

        made: list[tuple[PlannedRun, UUID]] = []
        for deployment_id, rows in by_deployment.items():
            try:
                created, errors = await self.create_with_retries(client, deployment_id, rows)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code not in (404, 405):
                    raise
                self.bulk_create = False  # an older API: one run at a time, as before
                for item, run in rows:
                    results[item.run_id] = await self.each.recreate(client, item, run)
                continue
            made += created
            for item, run, error in errors:
                results[item.run_id] = await self.recreate_alone(client, item, run, error)
        # The bulk call answers per run inside one transaction: delete an original only once its
        # replacement is read back from the server.
        stored = await read_by_id(client, [replacement_id for _, replacement_id in made])
        for item, replacement_id in made:
            if replacement_id not in stored:
                results[item.run_id] = result_for(
                    item, FAILED, item.state, "its replacement was not stored; the original is kept"
                )
        made = [(item, r) for item, r in made if r in stored]
        await self.each.retime(client, [(item, stored[r]) for item, r in made])
        deleted = await bulk_delete(client, [item.run_id for item, _ in made], self.each.allowed)
        for item, replacement_id in made:
            results[item.run_id] = (
                result_for(item, DONE, "Scheduled", f"replaced by run {replacement_id}")
                if item.run_id in deleted
                else await self.each.keep_original(client, item, replacement_id)
            )
        return [results[item.run_id] for item in batch]

    async def recreate_alone(
        self, client: PrefectClient, item: PlannedRun, run: FlowRun, error: str
    ) -> RunResult:
        """A row the bulk create kept failing (a busy SQLite fails a bulk insert at once, where a
        single create waits or is retried by the client): that run on its own, as before."""
        try:
            return await self.each.recreate(client, item, run)
        except Exception as exc:  # nothing deleted without its copy: the original stays as it is
            reason = f"the server did not replace it: {error}; then on its own: {explain(exc)}"
            return await self.after_failed_recreate(client, item, reason)

    async def after_failed_recreate(self, client: PrefectClient, item: PlannedRun, reason: str) -> RunResult:
        """A recreate that raised may have stored the copy, or even deleted the original (an
        answer lost). Original gone: the copy is the run now. Original kept: a copy beside it
        would run the flow twice, so it goes again; if that cannot be checked, say so."""
        try:
            try:
                await client.read_flow_run(item.run_id)
            except ObjectNotFound:
                return (await self.each.gone(client, [item]))[0]
            return (await self.each.drop_strays(client, [result_for(item, FAILED, item.state, reason)]))[0]
        except Exception as exc:
            note = (
                f"a replacement may be stored beside it ({explain(exc)}): apply what failed again to finish"
            )
            return result_for(item, FAILED, item.state, f"{reason}; {note}")

    @staticmethod
    async def create_with_retries(
        client: PrefectClient, deployment_id: UUID, rows: list[tuple[PlannedRun, FlowRun]]
    ) -> tuple[list[tuple[PlannedRun, UUID]], list[tuple[PlannedRun, FlowRun, str]]]:
        """The bulk create, sent once more for the rows it failed: the server reports a busy
        database ("database is locked") per run in a 200 answer, not as a 503. Safe to repeat: a
        replacement that exists already is found by its key, not made again."""
        made: list[tuple[PlannedRun, UUID]] = []
        errors: list[tuple[PlannedRun, FlowRun, str]] = []
        for attempt in range(CREATE_ATTEMPTS):
            answers = await create_replacements(client, deployment_id, rows)
            errors = []
            for (item, run), (replacement_id, error) in zip(rows, answers, strict=True):
                if replacement_id is not None:
                    made.append((item, replacement_id))
                else:
                    errors.append((item, run, error))
            if not errors or attempt + 1 == CREATE_ATTEMPTS:
                break
            rows = [(item, run) for item, run, _ in errors]
            await asyncio.sleep(0.2 * 2**attempt * (0.5 + random.random()))
        return made, errors


def late_batches(plan: Plan, sent: Iterable[UUID] = ()) -> Batching:
    handler = LateBatches(plan, sent)
    return Batching(handler, key=handler.key, size=batch_size(len(plan.to_change)), sizes=LateBatches.SIZES)


def _server_failed(item: PlannedRun, answer: Outcome) -> RunResult:
    return result_for(item, FAILED, None, f"the server could not change it: {answer.reason}")


def _rescheduled(item: PlannedRun, answer: Outcome) -> RunResult:
    if answer.server_failed:
        return _server_failed(item, answer)
    if answer.state_type == StateType.SCHEDULED.value and answer.state_name == "Scheduled":
        return result_for(item, DONE, answer.state_name)
    return result_for(item, SKIPPED, answer.state_name, answer.reason or "the server refused the change")


def _cancelled(item: PlannedRun, answer: Outcome) -> RunResult:
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


def check_plan(plan: Plan) -> None:
    """Refuse (nothing changes) an empty plan, or new times in the past without consent."""
    if not plan.to_change:
        raise BadInput("Nothing to do: no late runs match this selection.")
    past = past_items(plan)
    if past and not plan.options.get("allow_past"):
        raise BadInput(
            f"{len(past):,} new time(s) are in the past (e.g. {past[0].name}); those runs would be "
            "Late again at once. Choose later times, or confirm that this is what you want."
        )


async def apply_reschedule(
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
    """Apply a previewed plan as a job; refuses (nothing changes) if new times are in the past
    without consent. `sent`: runs an earlier process of this job may have changed (a resume)."""
    check_plan(plan)
    made = dict(plan.options.get("schedule_made") or {})

    async def keep_schedules_going(client: PrefectClient, report: Report) -> list[str]:
        return await catch_up(client, report.results, made) if made else []

    return await execute(
        client,
        plan,
        late_batches(plan, sent),
        finalize=keep_schedules_going,
        actor=actor,
        store=store,
        progress=progress,
        options=options,
        reason=reason,
        stop=stop,
        job=job,
    )


def summary(plan: Plan) -> dict[str, Any]:
    """Counts for the page: how many reschedule/recreate/cancel/delete, how many left, how many past."""
    counts = plan.counts()
    return {
        "matched": plan.matched or 0,
        "reschedule": counts.get(RESCHEDULE, 0) + counts.get(RECREATE, 0),
        "cancel": counts.get(CANCEL, 0),
        "delete": counts.get(DELETE, 0),
        "left": int(plan.options.get("left", 0)),
        "past": len(past_items(plan, plan.created_at)),
    }
