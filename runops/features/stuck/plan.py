"""Stuck runs: Running/Pending far longer than their deployment usually takes, or Cancelling too long.

"Usually" is the p95 duration of the deployment's recent completed runs (the history service's
numbers); with too little history a fixed age stands in. Each stuck run is shown with how long
it has been in its state, its usual duration, its work pool and whether that pool has a live
worker, and gets an action: Running/Pending → mark Crashed, Cancelling → mark Cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType

from runops.engine.plan import SKIP, Plan, PlannedRun
from runops.engine.selection import (
    ResolvedSelection,
    RunSelection,
    deployment_names_by_id,
    read_all,
    resolve,
)
from runops.errors import BadInput
from runops.features import history
from runops.features.stuck.options import StuckOptions
from runops.prefect_api.flows import read_flow_names_by_id
from runops.prefect_api.workers import PoolLiveness, read_work_pools_liveness
from runops.timefmt import ensure_utc, format_duration, parse_duration

PLAN_ACTION = "clear stuck runs"
MARK_CRASHED, MARK_CANCELLED = "mark crashed", "mark cancelled"
STUCK_STATES = ("Running", "Pending", "Cancelling")
HISTORY_RUNS = 100  # the newest completed runs per deployment that make its "usual" duration
MIN_HISTORY = 5  # fewer completed runs than this: the fixed --older-than age stands in
MAX_RUNS = 50_000
FORCE_WARNING = (
    "Marked without asking its worker: if the process is in fact still alive it keeps running "
    "(and may later report Completed on top)."
)
LIVE_WORKER = "its work pool has a live worker: the run may only be slow"


def _duration(value: timedelta | str, what: str) -> timedelta:
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise BadInput(f"The {what} must be longer than zero, not {format_duration(value)}.")
        return value
    try:
        return parse_duration(str(value))
    except BadInput as exc:
        raise BadInput(f"The {what}: {exc}") from None


@dataclass(frozen=True)
class StuckRequest:
    """Which runs count as stuck; validated on construction (BadInput if wrong)."""

    deployments: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    work_pools: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    k: float = 3.0
    older_than: timedelta | str = "2h"
    cancelling_for: timedelta | str = "10m"
    retry: bool = False
    now: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalising a frozen dataclass once, at construction
        set_(self, "now", ensure_utc(self.now) if self.now else datetime.now(UTC))
        for name in ("deployments", "flows", "work_pools", "tags"):
            set_(self, name, tuple(v.strip() for v in getattr(self, name) if v and v.strip()))
        try:
            k = float(self.k)
        except (TypeError, ValueError):
            raise BadInput(f"k must be a number such as 3, not {self.k!r}.") from None
        if not k > 0 or k == float("inf"):
            raise BadInput(
                f"k must be more than zero (runs longer than k × the usual duration), not {self.k}."
            )
        set_(self, "k", k)
        set_(self, "older_than", _duration(self.older_than, "fixed age (--older-than)"))
        set_(self, "cancelling_for", _duration(self.cancelling_for, "time in Cancelling (--cancelling-for)"))

    def selection(self) -> RunSelection:
        return RunSelection(
            states=STUCK_STATES,
            deployments=self.deployments,
            flows=self.flows,
            work_pools=self.work_pools,
            tags=self.tags,
        )

    def rule_words(self) -> str:
        return (
            f"Running/Pending longer than {self.k:g} × the deployment's p95 duration (fixed "
            f"{format_duration(self.older_than)} with fewer than {MIN_HISTORY} completed runs); "
            f"Cancelling longer than {format_duration(self.cancelling_for)}"
        )


@dataclass(frozen=True)
class Usual:
    """A deployment's usual duration: the p95 of its newest completed runs."""

    p95: timedelta | None
    runs: int


@dataclass(frozen=True)
class StuckRun:
    run_id: UUID
    name: str
    deployment: str | None
    flow: str | None
    state: str
    state_type: str
    state_id: UUID | None
    since: datetime
    in_state: timedelta
    usual: Usual
    limit: timedelta
    basis: str
    work_pool: str | None
    pool: PoolLiveness | None
    action: str

    @property
    def worker_words(self) -> str:
        if self.work_pool is None:
            return "no work pool"
        if self.pool is None:
            return "pool not found"
        return f"{self.pool.online_workers} live worker(s)" if self.pool.live else "no live worker"


@dataclass(frozen=True)
class Findings:
    """What a stuck-run check found: the stuck runs, and how many active runs it looked at."""

    request: StuckRequest
    stuck: tuple[StuckRun, ...]
    checked: int
    selection: str


async def usual_durations(client: PrefectClient, deployment_ids: Iterable[UUID]) -> dict[UUID, Usual]:
    """p95 of each deployment's newest completed runs, through the history service (one read each)."""
    found: dict[UUID, Usual] = {}
    for deployment_id in sorted(set(deployment_ids), key=str):
        completed = FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
        )
        resolved = ResolvedSelection(RunSelection(), {"flow_run_filter": completed})
        runs = await history.read_runs(client, resolved, HISTORY_RUNS)
        summary = history.summarize(history.runs_frame(runs, {}, {}))
        p95 = summary.p95_duration_s
        found[deployment_id] = Usual(timedelta(seconds=p95) if p95 is not None else None, summary.completed)
    return found


def _limit(run: FlowRun, usual: Usual, request: StuckRequest) -> tuple[timedelta, str]:
    """How long is too long for this run, and why, in words."""
    if run.state_type == StateType.CANCELLING:
        return request.cancelling_for, f"Cancelling longer than {format_duration(request.cancelling_for)}"  # type: ignore[arg-type]
    if usual.p95 is not None and usual.runs >= MIN_HISTORY:
        limit = usual.p95 * request.k
        return limit, f"{request.k:g} × p95 {format_duration(usual.p95)} of {usual.runs} completed runs"
    have = f"only {usual.runs} completed run(s)" if usual.runs else "no completed runs"
    return request.older_than, f"fixed {format_duration(request.older_than)}: {have}"  # type: ignore[arg-type]


async def find_stuck(client: PrefectClient, request: StuckRequest) -> Findings:
    """Every Running/Pending/Cancelling run of the selection, judged against its deployment's usual duration."""
    now = request.now or datetime.now(UTC)
    resolved = await resolve(client, request.selection())
    runs = list({r.id: r for r in await read_all(client, resolved)}.values())
    if len(runs) > MAX_RUNS:
        raise BadInput(f"{len(runs):,} active runs match; narrow the selection.")
    usual = await usual_durations(client, {r.deployment_id for r in runs if r.deployment_id})
    stuck: list[tuple[FlowRun, timedelta, tuple[timedelta, str]]] = []
    for run in runs:
        if run.state is None:
            continue
        since = run.state.timestamp
        in_state = now - since
        limit = _limit(
            run,
            usual.get(run.deployment_id, Usual(None, 0)) if run.deployment_id else Usual(None, 0),
            request,
        )
        if in_state > limit[0]:
            stuck.append((run, in_state, limit))
    names = await deployment_names_by_id(client, {r.deployment_id for r, _, _ in stuck if r.deployment_id})
    flows = await read_flow_names_by_id(client, {r.flow_id for r, _, _ in stuck})
    pools = await read_work_pools_liveness(
        client, {r.work_pool_name for r, _, _ in stuck if r.work_pool_name}
    )
    found = [
        StuckRun(
            run_id=run.id,
            name=run.name,
            deployment=names.get(run.deployment_id) if run.deployment_id else None,
            flow=flows.get(run.flow_id),
            state=run.state.name,
            state_type=run.state.type.value,
            state_id=run.state.id,
            since=run.state.timestamp,
            in_state=in_state,
            usual=usual.get(run.deployment_id, Usual(None, 0)) if run.deployment_id else Usual(None, 0),
            limit=limit,
            basis=basis,
            work_pool=run.work_pool_name,
            pool=pools.get(run.work_pool_name) if run.work_pool_name else None,
            action=MARK_CANCELLED if run.state.type == StateType.CANCELLING else MARK_CRASHED,
        )
        for run, in_state, (limit, basis) in stuck
        if run.state is not None
    ]
    found.sort(key=lambda s: s.in_state, reverse=True)  # longest stuck first
    return Findings(request, tuple(found), len(runs), request.selection().describe())


def _note(run: StuckRun) -> str:
    return f"{run.state} for {format_duration(run.in_state)} (limit {format_duration(run.limit)}: {run.basis}); {run.worker_words}"


def chosen_action(run: StuckRun, cancel_instead: set[UUID]) -> str:
    """Running/Pending runs are marked Crashed unless the lead chose Cancelled for them (a run that
    should not count as a failure); a run stuck in Cancelling is only ever marked Cancelled."""
    if run.action == MARK_CRASHED and run.run_id in cancel_instead:
        return MARK_CANCELLED
    return run.action


def plan_from(
    findings: Findings,
    skip: Iterable[UUID] = (),
    retry: bool | None = None,
    cancel_instead: Iterable[UUID] = (),
) -> Plan:
    """The frozen plan for what was found. Chosen per run in the preview: runs in `skip` are left
    alone, Running/Pending runs in `cancel_instead` are marked Cancelled rather than Crashed;
    `retry` overrides the request's choice (the page asks after the runs are found)."""
    request, left, cancelled = findings.request, set(skip), set(cancel_instead)
    retry = request.retry if retry is None else retry
    items = []
    for run in findings.stuck:
        warnings = (FORCE_WARNING,) + ((LIVE_WORKER,) if run.pool is not None and run.pool.live else ())
        chosen = run.run_id not in left
        items.append(
            PlannedRun(
                run_id=run.run_id,
                name=run.name,
                deployment=run.deployment,
                state=run.state,
                action=chosen_action(run, cancelled) if chosen else SKIP,
                reason=_note(run) if chosen else f"left alone by choice; {_note(run)}",
                warnings=warnings if chosen else (),
                flow=run.flow,
                state_type=run.state_type,
            )
        )
    policy = "Running/Pending → Crashed, Cancelling → Cancelled, without waiting for their worker"
    if cancelled & {r.run_id for r in findings.stuck if r.action == MARK_CRASHED} - left:
        policy = "Running/Pending → Crashed (or Cancelled where chosen), Cancelling → Cancelled, without waiting for their worker"
    if retry:
        policy += "; then retried in place (back to Scheduled) when their deployment exists"
    return Plan(
        action=PLAN_ACTION,
        selection=f"{findings.selection}; stuck: {request.rule_words()}",
        items=tuple(items),
        policy=policy,
        matched=findings.checked,
        created_at=request.now or datetime.now(UTC),
        options=StuckOptions(
            retry=retry, state_ids={str(r.run_id): str(r.state_id) for r in findings.stuck if r.state_id}
        ).as_dict(),
    )


async def plan_stuck(client: PrefectClient, request: StuckRequest) -> Plan:
    """Find and plan in one step (the command line's `stuck clear`)."""
    return plan_from(await find_stuck(client, request))
