"""Retry failed runs: put Failed/Crashed (optionally Cancelled) runs back to Scheduled in place.

Prefect's own `prefect flow-run retry` forces `Scheduled` on one terminal run of a deployment.
Forcing is not needed (verified on prefect 3.9.1): the core policy accepts `Scheduled` on a
Failed, Crashed or Cancelled deployment run, resets its pause metadata and keeps its id,
parameters, tags, job variables and history; it refuses a run without a deployment (nothing
would run it again) and a Completed run with a persisted result. runops proposes it without
force through `/flow_runs/bulk_set_state`, filtered by ids AND the planned state types AND an end
time no later than the newest the preview saw, so a run retried (or failed again) since the
preview no longer matches and is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, StateType

from runops.engine.plan import SKIP, Plan, PlannedRun
from runops.engine.selection import (
    RunSelection,
    count_runs,
    deployment_names_by_id,
    iter_runs,
    resolve,
)
from runops.errors import BadInput
from runops.features.retry.options import RetryOptions
from runops.prefect_api.flows import read_flow_names_by_id
from runops.timefmt import ensure_utc, in_zone, parse_time

PLAN_ACTION = "retry failed runs"
RETRY = "retry"
# state name as people say it → the state type it stands for (TimedOut is a Failed type)
RETRYABLE = {"Failed": StateType.FAILED, "Crashed": StateType.CRASHED, "Cancelled": StateType.CANCELLED}
DEFAULT_STATES = ("Failed", "Crashed")
DEFAULT_WINDOW = timedelta(hours=24)
MAX_RUNS = 50_000  # one confirmed job; more is almost certainly a selection mistake
NO_DEPLOYMENT = "not a deployment run: nothing would run it again (retry it with its code)"
DEPLOYMENT_GONE = "its deployment no longer exists"
NEWER_RETRIED = "a newer failed run of this deployment is retried"


def _time(value: datetime | str | None, what: str, now: datetime, zone: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return ensure_utc(value)
    try:
        return parse_time(value, now=now, zone=zone)
    except BadInput as exc:
        raise BadInput(f"The {what}: {exc}") from None


def _states(given: Sequence[str] | str) -> tuple[str, ...]:
    known = {name.lower(): name for name in RETRYABLE}
    names = [given] if isinstance(given, str) else list(given)
    out: list[str] = []
    for name in names:
        found = known.get(name.strip().lower())
        if found is None:
            raise BadInput(
                f"Only finished runs can be retried; {name!r} is not one of {', '.join(RETRYABLE)}."
            )
        if found not in out:
            out.append(found)
    if not out:
        raise BadInput("Choose at least one state to retry: Failed, Crashed or Cancelled.")
    return tuple(out)


@dataclass(frozen=True)
class RetryRequest:
    """What to retry and when; validated and normalised on construction (BadInput if wrong).

    Times may be text ("now-6h", "10:00", ISO; read in `zone` without an offset). No `at` and no
    `spread`: each run is due the moment the job reaches it.
    """

    states: tuple[str, ...] = DEFAULT_STATES
    deployments: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    work_pools: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    ended_after: datetime | str | None = None  # default: 24 h before now
    ended_before: datetime | str | None = None
    at: datetime | str | None = None
    spread: tuple[datetime | str, datetime | str] | None = None
    latest_per_deployment: bool = False
    # runs chosen one by one (on History's timeline): exactly these, in any end-time window
    run_ids: tuple[UUID | str, ...] = ()
    max_runs: int = MAX_RUNS
    zone: str = "UTC"
    now: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        now = ensure_utc(self.now) if self.now else datetime.now(UTC)
        set_ = object.__setattr__  # normalising a frozen dataclass once, at construction
        set_(self, "now", now)
        set_(self, "states", _states(self.states))
        for name in ("deployments", "flows", "work_pools", "tags"):
            set_(self, name, tuple(v.strip() for v in getattr(self, name) if v and v.strip()))
        after = _time(self.ended_after, "start of the end-time window", now, self.zone)
        before = _time(self.ended_before, "end of the end-time window", now, self.zone)
        set_(self, "run_ids", tuple(UUID(str(i)) for i in self.run_ids))
        if not self.run_ids:
            after = after or (before or now) - DEFAULT_WINDOW
        if before is not None and after is not None and before <= after:
            raise BadInput(
                "The end-time window ends before it starts: swap --ended-after and --ended-before."
            )
        set_(self, "ended_after", after)
        set_(self, "ended_before", before)
        if isinstance(self.max_runs, bool) or not isinstance(self.max_runs, int) or self.max_runs <= 0:
            raise BadInput(
                f"The most runs to retry must be a whole number above zero, not {self.max_runs!r}."
            )
        if self.at not in (None, "") and self.spread:
            raise BadInput("Give either a time (--at) or a window to spread over (--spread), not both.")
        at = _time(self.at, "time to retry at", now, self.zone)
        if at is not None and at < now:
            raise BadInput(
                f"The time to retry at ({in_zone(at, self.zone)}) is in the past; leave it out to retry now."
            )
        set_(self, "at", at)
        if self.spread:
            start = _time(self.spread[0], "start of the spread", now, self.zone)
            end = _time(self.spread[1], "end of the spread", now, self.zone)
            if start is None or end is None:
                raise BadInput("Give both ends of the spread, e.g. now and now+2h.")
            if end <= start:
                raise BadInput("The spread must end after it starts.")
            if start < now - timedelta(minutes=1):
                raise BadInput(
                    f"The spread starts in the past ({in_zone(start, self.zone)}); start it now or later."
                )
            set_(self, "spread", (start, end))

    def selection(self) -> RunSelection:
        return RunSelection(
            state_types=tuple(RETRYABLE[s].value for s in self.states),
            deployments=self.deployments,
            flows=self.flows,
            work_pools=self.work_pools,
            tags=self.tags,
            ended_after=self.ended_after,  # type: ignore[arg-type]
            ended_before=self.ended_before,  # type: ignore[arg-type]
            run_ids=self.run_ids,  # type: ignore[arg-type]
            zone=self.zone,
        )

    def when_words(self) -> str:
        if self.spread:
            start, end = self.spread
            return (
                f"spread from {in_zone(start, self.zone)} to {in_zone(end, self.zone)}, "  # type: ignore[arg-type]
                "oldest failure first"
            )
        if isinstance(self.at, datetime):
            return f"scheduled for {in_zone(self.at, self.zone)}"
        return "scheduled to run now"


async def count_matching(client: PrefectClient, request: RetryRequest) -> int:
    """How many runs the request's selection matches (after its names are checked)."""
    return await count_runs(client, await resolve(client, request.selection()))


async def _read(client: PrefectClient, request: RetryRequest) -> tuple[list[FlowRun], int]:
    resolved = await resolve(client, request.selection())
    matched = await count_runs(client, resolved)
    if matched > request.max_runs:
        raise BadInput(
            f"{matched:,} runs match, more than the {request.max_runs:,} one job may retry. Narrow the "
            "selection (deployment, flow, tag, end-time window) and retry in parts."
        )
    runs: dict[UUID, FlowRun] = {}
    if matched:
        async for page in iter_runs(client, resolved):
            # offset paging can repeat a run when others are created meanwhile: keep it once
            runs.update((run.id, run) for run in page)
    # oldest failure first: the spread gives it the earliest slot, and the plan reads in order
    ordered = sorted(runs.values(), key=lambda r: (r.end_time or request.now, str(r.id)))
    return ordered, matched


def _skip_reason(run: FlowRun, names: dict[UUID, str], newest: dict[UUID, UUID], latest: bool) -> str:
    if run.deployment_id is None:
        return NO_DEPLOYMENT
    if run.deployment_id not in names:
        return DEPLOYMENT_GONE
    if latest and newest.get(run.deployment_id) != run.id:
        return NEWER_RETRIED
    return ""


def _times(request: RetryRequest, n: int) -> list[datetime | None]:
    """New times for `n` runs, oldest failure first (None: due when the job reaches it)."""
    if request.spread:
        start, end = request.spread
        assert isinstance(start, datetime) and isinstance(end, datetime)
        step = (end - start) / (n - 1) if n > 1 else timedelta(0)
        return [start + step * i for i in range(n)]
    return [request.at if isinstance(request.at, datetime) else None] * n


async def plan_retry(client: PrefectClient, request: RetryRequest) -> Plan:
    """The frozen plan: every matching run (all pages), retried or skipped with why; changes nothing."""
    runs, matched = await _read(client, request)
    names = await deployment_names_by_id(client, {r.deployment_id for r in runs if r.deployment_id})
    flows = await read_flow_names_by_id(client, {r.flow_id for r in runs})
    newest: dict[UUID, UUID] = {}
    for run in runs:  # oldest first: the last one seen per deployment is its newest failure
        if run.deployment_id is not None:
            newest[run.deployment_id] = run.id
    reasons = [_skip_reason(run, names, newest, request.latest_per_deployment) for run in runs]
    times = iter(_times(request, sum(1 for reason in reasons if not reason)))
    items = tuple(
        PlannedRun(
            run_id=run.id,
            name=run.name,
            deployment=names.get(run.deployment_id) if run.deployment_id else None,
            state=run.state.name if run.state else "?",
            action=SKIP if reason else RETRY,
            scheduled_time=run.expected_start_time,
            new_time=None if reason else next(times),
            reason=reason,
            flow=flows.get(run.flow_id),
            state_type=run.state.type.value if run.state else None,
        )
        for run, reason in zip(runs, reasons, strict=True)
    )
    ends = [r.end_time for r in runs if r.end_time is not None]
    selection = request.selection()
    policy = f"back to Scheduled in place (same id, parameters, tags, job variables), {request.when_words()}"
    if request.latest_per_deployment:
        policy += "; only the newest failed run of each deployment"
    return Plan(
        action=PLAN_ACTION,
        selection=selection.describe(),
        items=items,
        policy=policy,
        matched=matched,
        created_at=request.now or datetime.now(UTC),
        options=RetryOptions(
            state_types=tuple(selection.state_types),
            ended_by=max(ends) if ends else None,
            ended={str(r.id): r.end_time for r in runs if r.end_time is not None},
            latest_per_deployment=request.latest_per_deployment,
        ).as_dict(),
    )


def ended_times(plan: Plan) -> dict[str, datetime]:
    """When each run ended, as the preview read it (by run id)."""
    return RetryOptions.of(plan.options).ended


def summary(plan: Plan) -> dict[str, int]:
    counts = plan.counts()
    return {"matched": plan.matched or 0, "retry": counts.get(RETRY, 0), "skip": counts.get(SKIP, 0)}
