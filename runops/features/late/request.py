"""What a reschedule asks for, validated: policy, delay or times, N, remainder, mode."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from prefect.client.schemas.objects import StateType

from runops.errors import BadInput
from runops.timefmt import ensure_utc, format_duration, in_zone, parse_duration, parse_time

ACTION = "reschedule late runs"


class LateAction(StrEnum):
    """What a reschedule does to one run (stored and printed by these values)."""

    RESCHEDULE = "reschedule"  # moved in place
    RECREATE = "recreate"  # replaced by a copy at the new time
    CANCEL = "cancel"  # the rest of the backlog, when asked: Cancelled
    DELETE = "delete"  # the rest of the backlog, when asked: deleted


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
LONG_TIME_REFUSAL = "A new time more than 30 days ahead needs an explicit yes: --allow-long-delay"


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


def is_long_move(
    policy: str,
    delay: timedelta | str | None = None,
    at: datetime | str | None = None,
    window_end: datetime | str | None = None,
    zone: str = "UTC",
    now: datetime | None = None,
) -> bool:
    """Whether the move as typed goes more than MAX_DELAY ahead (a delay that long, or a new time
    or window end that far away); False when it cannot be read: the request says why."""
    now = now or datetime.now(UTC)
    try:
        if policy == "shift":
            return _duration(delay, "delay") > MAX_DELAY
        latest = at if policy == "fixed" else window_end
        return _time(latest, "new time", now, zone) - now > MAX_DELAY
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
    # runs chosen one by one (on History's timeline): exactly these, due before now or not
    run_ids: tuple[UUID | str, ...] = ()
    zone: str = "UTC"  # how to read a time typed without a zone ("2026-11-27 10:00")
    now: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # normalising a frozen dataclass once, at construction
        now = ensure_utc(self.now) if self.now else datetime.now(UTC)
        object.__setattr__(self, "now", now)
        self._check_selection()
        self._check_choices()
        self._check_policy(now)

    def _check_selection(self) -> None:
        given = [self.deployments] if isinstance(self.deployments, str) else list(self.deployments)
        names = tuple(d.strip() for d in given if d and d.strip())
        object.__setattr__(self, "run_ids", tuple(UUID(str(i)) for i in self.run_ids))
        if not names and not self.run_ids:
            raise BadInput("Choose at least one deployment.")
        object.__setattr__(self, "deployments", names)
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
        object.__setattr__(self, "states", states)

    def _check_choices(self) -> None:
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

    def _check_policy(self, now: datetime) -> None:
        set_ = object.__setattr__
        if self.policy == "shift":
            delay = _duration(self.delay, "delay")
            if delay > MAX_DELAY and not self.allow_long:
                raise BadInput(LONG_DELAY_REFUSAL)
            set_(self, "delay", delay)
            return
        if self.policy == "fixed":
            set_(self, "at", _time(self.at, "new time", now, self.zone))
            latest = self.at
        else:
            start = _time(self.window_start, "start of the window", now, self.zone)
            end = _time(self.window_end, "end of the window", now, self.zone)
            if end <= start:
                raise BadInput("The window must end after it starts.")
            set_(self, "window_start", start)
            set_(self, "window_end", end)
            latest = end
        assert isinstance(latest, datetime)
        if latest - now > MAX_DELAY and not self.allow_long:
            raise BadInput(LONG_TIME_REFUSAL)

    def policy_words(self) -> str:
        if self.policy == "shift":
            assert isinstance(self.delay, timedelta)
            return f"shift each run by {format_duration(self.delay)} from its scheduled time"
        if self.policy == "fixed":
            return f"move to {words_time(self.at, self.zone)}"
        start, end = words_time(self.window_start, self.zone), words_time(self.window_end, self.zone)
        return f"spread evenly from {start} to {end}"


def words_time(value: object, zone: str = "UTC") -> str:
    assert isinstance(value, datetime)
    return in_zone(value, zone)


@dataclass(frozen=True)
class LateOptions:
    """A reschedule plan's own choices, as its job record keeps them (`Plan.options`, JSON)."""

    states: tuple[str, ...] = ("Late",)
    mode: str = "in_place"
    remainder: str = "leave"
    allow_past: bool = False  # the lead confirmed new times in the past
    left: int = 0  # late runs left as they are (remainder "leave")
    # deployment name → id, for deployments whose schedule made runs moved in place
    schedule_made: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "states": list(self.states)}

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> LateOptions:
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        if "states" in known:
            known["states"] = tuple(known["states"] or ("Late",))
        return cls(**known)
