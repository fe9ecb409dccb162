"""The frozen reschedule plan: which late runs move where, and what happens to the rest."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort

from runops.engine.plan import Plan, PlannedRun
from runops.engine.selection import (
    RunSelection,
    deployment_names_by_id,
    list_deployments,
    read_all,
    resolve,
)
from runops.errors import BadInput
from runops.features.late.request import (
    ACTION,
    PAST_WARNING,
    LateAction,
    LateOptions,
    RescheduleRequest,
)
from runops.features.late.schedules import SCHEDULE_WARNING


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
        states=request.states,
        deployments=request.deployments,
        # runs chosen one by one are taken as chosen, also those due later (a person picked them)
        scheduled_before=None if request.run_ids else now,
        run_ids=request.run_ids,  # type: ignore[arg-type]
        zone=request.zone,
    )
    resolved = await resolve(client, selection)
    runs = await read_all(client, resolved, sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC)
    # newest scheduled first (the server only sorts this ascending); ties by id for a stable plan
    runs.sort(key=lambda r: (scheduled_time(r) or now, str(r.id)), reverse=True)
    names = await deployment_names_by_id(client, {r.deployment_id for r in runs if r.deployment_id})
    chosen = runs[: request.limit] if request.limit else runs
    rest = runs[len(chosen) :]
    items: list[PlannedRun] = []
    main_action = LateAction.RECREATE if request.mode == "recreate" else LateAction.RESCHEDULE
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
        options=LateOptions(
            states=request.states,
            mode=request.mode,
            remainder=request.remainder,
            allow_past=request.allow_past,
            left=len(rest) if request.remainder == "leave" else 0,
            schedule_made=schedule_made,
        ).as_dict(),
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
    return replace(plan, options=replace(LateOptions.of(plan.options), allow_past=True).as_dict())


def past_items(plan: Plan, now: datetime | None = None) -> list[PlannedRun]:
    """Runs whose new time is (by now) in the past."""
    now = now or datetime.now(UTC)
    return [i for i in plan.to_change if i.new_time is not None and i.new_time <= now]


def check_plan(plan: Plan) -> None:
    """Refuse (nothing changes) an empty plan, or new times in the past without consent."""
    if not plan.to_change:
        raise BadInput("Nothing to do: no late runs match this selection.")
    past = past_items(plan)
    if past and not LateOptions.of(plan.options).allow_past:
        raise BadInput(
            f"{len(past):,} new time(s) are in the past (e.g. {past[0].name}); those runs would be "
            "Late again at once. Choose later times, or confirm that this is what you want."
        )


def summary(plan: Plan) -> dict[str, Any]:
    """Counts for the page: how many reschedule/recreate/cancel/delete, how many left, how many past."""
    counts = plan.counts()
    return {
        "matched": plan.matched or 0,
        "reschedule": counts.get(LateAction.RESCHEDULE, 0) + counts.get(LateAction.RECREATE, 0),
        "cancel": counts.get(LateAction.CANCEL, 0),
        "delete": counts.get(LateAction.DELETE, 0),
        "left": LateOptions.of(plan.options).left,
        "past": len(past_items(plan, plan.created_at)),
    }
