"""Prefect's UI state colours, in one place for charts, badges and tables (no imports: any layer may use it)."""

from __future__ import annotations

# The Prefect UI's palette by state name (prefect-ui-library's state colours).
STATE_COLORS = {
    "Scheduled": "#FCD14E",
    "Late": "#FCD14E",
    "AwaitingRetry": "#FCD14E",
    "Pending": "#8EA0AE",
    "Running": "#1860F2",
    "Retrying": "#1860F2",
    "Paused": "#A1A1AA",
    "Suspended": "#A1A1AA",
    "Cancelling": "#71717A",
    "Completed": "#2AC769",
    "Cached": "#2AC769",
    "Failed": "#FB4E4E",
    "Crashed": "#F97316",
    "Cancelled": "#71717A",
}
OTHER_COLOR = "#A1A1AA"  # a state name the palette does not know (a custom one, say)


def state_color(name: str) -> str:
    return STATE_COLORS.get(name, OTHER_COLOR)
