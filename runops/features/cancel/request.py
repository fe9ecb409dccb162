"""What a bulk cancel asks for: the selection (states, deployments, flows, pools, tags, window) and force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType

from runops.engine.selection import (
    RunSelection,
    count_runs,
    resolve,
)
from runops.errors import BadInput
from runops.timefmt import parse_time


class CancelAction(StrEnum):
    """What a bulk cancel does to one run, by its state (stored and printed by these values)."""

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


def chosen_selection(run_ids: Sequence[UUID | str], zone: str = "UTC") -> RunSelection:
    """Exactly these runs (chosen on History's timeline), those still in a default state."""
    return RunSelection(states=DEFAULT_STATES, run_ids=tuple(UUID(str(i)) for i in run_ids), zone=zone)


async def count_matching(client: PrefectClient, selection: RunSelection) -> int:
    """How many runs the selection matches (one `count_flow_runs` call after the names are checked)."""
    resolved = await resolve(client, with_default_states(selection))
    return await count_runs(client, resolved)


@dataclass(frozen=True)
class CancelOptions:
    """A cancel plan's own choices, as its job record keeps them (`Plan.options`, JSON)."""

    include_subflows: bool = False
    force_stuck: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
