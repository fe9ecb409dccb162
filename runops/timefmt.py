"""People's units for time: parse "6h", "90m", "2d 3h"; format "2h 05m"; parse ISO times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from runops.errors import BadInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Parse "6h", "90m", "1d 12h", "45s" (a bare number means minutes) into a timedelta."""
    raw = (text or "").strip().lower().replace(",", " ")
    if not raw:
        raise BadInput("Give a duration such as 6h, 90m or 2d.")
    if raw.startswith("-"):
        raise BadInput(f"The duration {text!r} is negative; give a positive one such as 6h.")
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw) * 60
    else:
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
    """A duration the way people say it: "45s", "12m 05s", "2h 05m", "3d 4h"."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds != seconds:  # NaN
        return "—"
    sign = "-" if seconds < 0 else ""
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


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO time ("2026-11-27T10:00", "2026-11-27 10:00+01:00") or "now+2h"; naive means UTC."""
    raw = (text or "").strip()
    if not raw:
        raise BadInput("Give a time such as 2026-11-27T10:00 or now+2h.")
    if raw.lower().startswith("now"):
        base = now or datetime.now(UTC)
        rest = raw[3:].strip()
        if not rest:
            return base
        if rest[0] not in "+-":
            raise BadInput(f"Cannot read {text!r}; use now+2h or now-30m.")
        delta = parse_duration(rest[1:], allow_zero=True)
        return base + delta if rest[0] == "+" else base - delta
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"Cannot read {text!r} as a time; use ISO form like 2026-11-27T10:00Z.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ensure_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
