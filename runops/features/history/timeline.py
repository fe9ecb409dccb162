"""The run timeline: every run of a history's selection in its window (finished, running, due) and what a brush on it chose."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pandas as pd
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort

from runops.engine.selection import (
    ResolvedSelection,
    RunSelection,
    build_filters,
    count_runs,
    read_all,
    resolve,
)
from runops.features.cancel.request import DEFAULT_STATES as CANCEL_STATES
from runops.features.history.load import names_for
from runops.features.history.request import NO_DEPLOYMENT, HistoryRequest
from runops.features.late.request import RESCHEDULABLE_STATES
from runops.timefmt import ensure_utc

MAX_RUNS = 2_000  # a chart of more bars is unreadable, and each is a row sent to the browser
DEFAULT_SPAN = timedelta(days=7)  # the window when the history has none ("Any time")
AHEAD = 0.1  # the share of the window shown after now, so runs due soon are on the chart
MIN_BAR = 1 / 300  # of the span: a 3-second run in a 7-day window is still a visible bar

BAR, DUE, INSTANT = "bar", "due", "instant"  # ran (or runs); not started yet; ended unstarted
FINISHED_TYPES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
ACTIVE_TYPES = ("PENDING", "RUNNING", "CANCELLING", "PAUSED")
DUE_TYPES = ("SCHEDULED",)  # Scheduled, Late, AwaitingRetry
RETRY_TYPES = ("FAILED", "CRASHED")
COLUMNS = (
    "run_id",
    "name",
    "deployment",
    "state",
    "state_type",
    "kind",
    "begin",  # start time; the scheduled time of a run not started; the end of one ended unstarted
    "finish",  # end time; now while it runs
    "drawn_finish",  # finish, widened to a visible bar
    "scheduled",
    "url",
)


@dataclass(frozen=True, eq=False)
class Timeline:
    """The runs drawn on the timeline, newest first per kind (picklable, so a page can cache it)."""

    runs: pd.DataFrame
    start: datetime
    end: datetime  # a little after now: runs due soon show
    now: datetime
    matching: int  # every run the three reads match, which may be more than were read
    limit: int = MAX_RUNS

    @property
    def truncated(self) -> bool:
        return self.matching > len(self.runs)

    @property
    def empty(self) -> bool:
        return self.runs.empty


@dataclass(frozen=True)
class Chosen:
    """The runs a brush chose, and those each bulk action would take (ids as text)."""

    run_ids: tuple[str, ...] = ()
    retry: tuple[str, ...] = ()  # Failed or Crashed
    cancel: tuple[str, ...] = ()  # not finished (bulk cancel's default states)
    reschedule: tuple[str, ...] = ()  # Late or Scheduled


def window(
    request: HistoryRequest, now: datetime, start: datetime | None = None
) -> tuple[datetime, datetime]:
    """(start, end) of the timeline: the history's window (or `start`, else a week) to a bit after now."""
    first, last = request.time_range(now)
    first = first or (ensure_utc(start) if start else now - DEFAULT_SPAN)
    last = max(last or now, now)
    return first, last + (last - first) * AHEAD


def _reads(
    request: HistoryRequest, start: datetime, end: datetime, now: datetime
) -> list[tuple[RunSelection, FlowRunSort]]:
    """The three reads, most pressing first: running now, due in the window, ended in it."""
    base = RunSelection(
        deployments=request.deployments,
        flows=request.flows,
        tags=request.tags,
        work_pools=request.work_pools,
        zone=request.zone,
    )
    return [
        (replace(base, state_types=ACTIVE_TYPES), FlowRunSort.ID_DESC),
        (
            replace(base, state_types=DUE_TYPES, scheduled_after=start, scheduled_before=end),
            FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
        ),
        (
            replace(base, state_types=FINISHED_TYPES, ended_after=start, ended_before=min(end, now)),
            FlowRunSort.END_TIME_DESC,
        ),
    ]


async def load_timeline(
    client: PrefectClient,
    request: HistoryRequest,
    run_url: Callable[[UUID], str | None] | None = None,
    now: datetime | None = None,
    start: datetime | None = None,
    limit: int = MAX_RUNS,
) -> Timeline:
    """Every run of the request's deployments, flows, pools and tags on the timeline, at most `limit`.

    Paged reads filtered by the server (never one call per run); names in one call per 200 ids.
    """
    now = ensure_utc(now or datetime.now(UTC))
    first, last = window(request, now, start)
    reads = _reads(request, first, last, now)
    resolved = await resolve(client, reads[0][0])  # the names are the same in all three
    ids = [d.id for d in resolved.deployments]
    runs: dict[UUID, FlowRun] = {}
    matching = 0
    for selection, sort in reads:
        found = ResolvedSelection(selection, build_filters(selection, ids), resolved.deployments)
        matching += await count_runs(client, found)
        left = limit - len(runs)
        if left > 0:
            # offset pages can repeat a run when others change state meanwhile: keep it once
            runs.update((run.id, run) for run in await read_all(client, found, sort=sort, limit=left))
    _, deployment_names = await names_for(client, list(runs.values()))
    frame = timeline_frame(list(runs.values()), deployment_names, now, last - first, run_url)
    return Timeline(frame, first, last, now, max(matching, len(frame)), limit)


def _row(run: FlowRun, now: datetime) -> tuple[str, datetime, datetime] | None:
    scheduled = run.next_scheduled_start_time or run.expected_start_time
    if run.start_time is not None:
        return BAR, run.start_time, run.end_time or now
    if run.end_time is not None:
        return INSTANT, run.end_time, run.end_time
    if scheduled is not None:
        return DUE, scheduled, scheduled
    return None  # neither started, ended nor due: nothing to place


def timeline_frame(
    runs: Sequence[FlowRun],
    deployment_names: Mapping[UUID, str],
    now: datetime,
    span: timedelta,
    run_url: Callable[[UUID], str | None] | None = None,
) -> pd.DataFrame:
    """One row per run: where it sits on the timeline (times UTC) and how it is drawn."""
    rows: list[dict[str, Any]] = []
    widest = span * MIN_BAR
    for run in runs:
        placed = _row(run, now)
        if placed is None:
            continue
        kind, begin, finish = placed
        rows.append(
            {
                "run_id": str(run.id),
                "name": run.name,
                "deployment": deployment_names.get(run.deployment_id, "?")
                if run.deployment_id
                else NO_DEPLOYMENT,
                "state": run.state_name or (run.state.name if run.state else "?"),
                "state_type": run.state_type.value if run.state_type else None,
                "kind": kind,
                "begin": begin,
                "finish": finish,
                "drawn_finish": max(finish, begin + widest) if kind == BAR else finish,
                "scheduled": run.next_scheduled_start_time or run.expected_start_time,
                "url": run_url(run.id) if run_url else None,
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("begin", "finish", "drawn_finish", "scheduled"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame.sort_values(["deployment", "begin"], ignore_index=True)


def _instant(value: Any) -> pd.Timestamp:
    """A brush edge as the browser sends it: epoch milliseconds, an ISO text or a datetime."""
    if isinstance(value, int | float):
        return pd.Timestamp(value, unit="ms", tz=UTC)
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def chosen_runs(frame: pd.DataFrame, brush: Mapping[str, Any] | None) -> pd.DataFrame:
    """The rows a brush covers: drawn within its time range and on one of its deployment rows.

    An interval selection sends the brushed *ranges* (`{"begin": [from, to], "deployment":
    [...]}`), not the marks, so the runs are found here the way the chart draws them: a bar
    overlapping the range, a mark inside it. No brush (or an empty one) chooses nothing.
    """
    if not brush:
        return frame.iloc[0:0]
    keep = pd.Series(True, index=frame.index)
    times = brush.get("begin")
    if times:
        low, high = sorted(_instant(t) for t in times)
        keep &= (frame["begin"] <= high) & (frame["drawn_finish"] >= low)
    rows = brush.get("deployment")
    if rows is not None:
        keep &= frame["deployment"].isin(list(rows))
    return frame[keep]


def actions(chosen: pd.DataFrame) -> Chosen:
    """Which of the chosen runs each bulk action takes; its page still applies its own rules."""

    def ids(mask: pd.Series) -> tuple[str, ...]:
        return tuple(chosen.loc[mask, "run_id"])

    return Chosen(
        run_ids=tuple(chosen["run_id"]),
        retry=ids(chosen["state_type"].isin(RETRY_TYPES)),
        cancel=ids(chosen["state"].isin(CANCEL_STATES)),
        reschedule=ids(chosen["state"].isin(RESCHEDULABLE_STATES)),
    )
