"""Formatting for people: local times, durations, Prefect's state colours, run links."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from runops.colors import STATE_COLORS  # Prefect's state colours, defined once
from runops.timefmt import format_duration
from ui.context import timezone

WORD_JOINER = "\u2060"


def local_time(value: datetime | None, with_zone: bool = False) -> str:
    """A time in the viewer's zone; the page names that zone once (`with_zone` names it here too)."""
    if value is None:
        return "—"
    tz = timezone()
    local = value.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M")
    if with_zone:
        text += f" {local.tzname()}"
    return text


def utc_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "—"
    delta = (now or datetime.now(UTC)) - value
    seconds = delta.total_seconds()
    return f"{format_duration(abs(seconds))} ago" if seconds >= 0 else f"in {format_duration(-seconds)}"


def state_badge(name: str) -> str:
    color = STATE_COLORS.get(name, "#A1A1AA")
    return f":{_nearest_streamlit_color(color)}-badge[{name}]"


def _nearest_streamlit_color(hex_color: str) -> str:
    return {
        "#FCD14E": "orange",
        "#8EA0AE": "gray",
        "#1860F2": "blue",
        "#A1A1AA": "gray",
        "#71717A": "gray",
        "#2AC769": "green",
        "#FB4E4E": "red",
        "#F97316": "orange",
    }.get(hex_color, "gray")


def number(value: int) -> str:
    return f"{value:,}"


def inert(text: object) -> str:
    """Markdown-escape user-controlled text (run names, tags, e-mails, error messages) so it
    renders as text, not markup, wherever Streamlit reads Markdown (markdown, captions, alerts,
    progress text)."""
    specials = "\\`*_{}[]()#+-.!|<>~$:"
    escaped = "".join("\\" + ch if ch in specials else ch for ch in str(text))
    # Escapes do not stop GFM's bare-URL and e-mail autolinks (checked in Chromium): an invisible
    # WORD JOINER breaks each pattern, so `https://…`, `www.…` and `a@b.c` stay plain text.
    escaped = re.sub(r"\\:(?=//)", "\\:" + WORD_JOINER, escaped)
    escaped = re.sub(r"(?i)(www)(?=\\\.)", r"\1" + WORD_JOINER, escaped)
    return escaped.replace("@", WORD_JOINER + "@")
