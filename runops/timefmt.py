"""People's units for time: parse "6h", "90m", "2d 3h"; format "2h 05m"; parse ISO times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runops.errors import BadInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Parse "6h", "90m", "1d 12h", "45s" into a timedelta; a number without a unit is refused."""
    raw = (text or "").strip().lower().replace(",", " ")
    if not raw:
        raise BadInput("Give a duration such as 6h, 90m or 2d.")
    if raw.startswith("-"):
        raise BadInput(f"The duration {text!r} is negative; give a positive one such as 6h.")
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        # minutes? hours? a guess could move runs by sixty times what was meant
        raise BadInput(f"{raw} what? Give a unit, e.g. 6h or 90m.")
    pos, seconds = 0, 0.0
    for match in _PART.finditer(raw):
        if raw[pos : match.start()].strip():
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2).lower()]
        pos = match.end()
    if pos == 0 or raw[pos:].strip():
        raise BadInput(f"Cannot read {text!r} as a duration; use e.g. 6h, 90m, 2d or 1h 30m.")
    if seconds == 0 and not allow_zero:
        raise BadInput("The duration must be more than zero.")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta | float | int | None) -> str:
    """A duration the way people say it: "0.21s", "45s", "12m 05s", "2h 05m", "3d 4h"."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds != seconds:  # NaN
        return "—"
    sign = "-" if seconds < 0 else ""
    if 0 < abs(seconds) < 0.995:  # would round to "0s": a quick run is not instant
        if abs(seconds) < 0.005:
            return f"{sign}<0.01s"
        return f"{sign}{abs(seconds):.2f}".rstrip("0").rstrip(".") + "s"
    s = int(round(abs(seconds)))
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


TIME_EXAMPLES = "2026-11-27 10:00, 10:00, tomorrow 10:00, now+2h or 2026-11-27T10:00+01:00"
_CLOCK = re.compile(r"^(?:(today|tomorrow)\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?$", re.IGNORECASE)


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"Unknown time zone {name!r}.") from None


def parse_time(text: str, *, now: datetime | None = None, zone: str = "UTC") -> datetime:
    """The one reader of times people type, in UTC: "now", "now+2h", "now-30m"; "10:00" (today),
    "tomorrow 10:00"; "2026-11-27 10:00" — all in `zone` unless they name an offset
    ("2026-11-27T10:00Z", "…+01:00")."""
    raw = (text or "").strip()
    tz = zone_of(zone)
    base = ensure_utc(now) if now else datetime.now(UTC)
    if not raw:
        raise BadInput(f"Give a time, e.g. {TIME_EXAMPLES}.")
    if raw.lower().startswith("now"):
        rest = raw[3:].strip()
        if not rest:
            return base
        if rest[0] not in "+-":
            raise BadInput(f"Cannot read {text!r}; use now+2h or now-30m.")
        delta = parse_duration(rest[1:], allow_zero=True)
        return base + delta if rest[0] == "+" else base - delta
    clock = _CLOCK.match(raw)
    if clock:
        day, hour, minute, second = clock.groups()
        if int(hour) > 23 or int(minute) > 59 or int(second or 0) > 59:
            raise BadInput(f"{text!r} is not a time of day.")
        local_day = base.astimezone(tz).date() + timedelta(days=1 if (day or "").lower() == "tomorrow" else 0)
        value = datetime(
            local_day.year, local_day.month, local_day.day, int(hour), int(minute), int(second or 0)
        )
        return value.replace(tzinfo=tz).astimezone(UTC)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"Cannot read {text!r} as a time; use e.g. {TIME_EXAMPLES} (your time zone, {zone}, unless you "
            "add an offset)."
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)


def in_zone(value: datetime, zone: str = "UTC") -> str:
    """A time as people read it in `zone`, the zone named: "2026-11-27 10:00 CET"."""
    return value.astimezone(zone_of(zone)).strftime("%Y-%m-%d %H:%M %Z")


def ensure_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
