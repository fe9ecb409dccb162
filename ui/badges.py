"""State, outcome and job-status cells as coloured badges in Prefect's state colours, and table heights."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from runops.colors import OTHER_COLOR, STATE_COLORS

# A job's per-run outcome and a job's status, in the colours of the states they resemble
OUTCOME_COLORS = {
    "done": STATE_COLORS["Completed"],
    "skipped": STATE_COLORS["Cancelled"],
    "failed": STATE_COLORS["Failed"],
    "not attempted": STATE_COLORS["Late"],
    "pending": STATE_COLORS["Pending"],
    "running": STATE_COLORS["Running"],
    "finished": STATE_COLORS["Completed"],
    "stopped": STATE_COLORS["Cancelled"],
    "interrupted": STATE_COLORS["Crashed"],
}
BADGE_COLUMNS = ("State", "Before", "After", "Outcome", "Status", "State now")
ROW_PX = 35  # Streamlit's data grid row height
MAX_ROWS_SHOWN = 20


def _rgb(hex_color: str) -> tuple[int, int, int]:
    value = hex_color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def badge_css(value: object) -> str:
    """A tinted cell with the state's colour as a bar on the left edge and darker text, like
    Prefect's state badges; empty for values that name no state."""
    name = str(value).split(" ")[0] if value is not None else ""
    color = STATE_COLORS.get(name) or OUTCOME_COLORS.get(str(value))
    if color is None:
        return ""
    r, g, b = _rgb(color)
    dark = tuple(int(c * 0.55) for c in (r, g, b))
    return (
        f"background-color: rgba({r}, {g}, {b}, 0.22); color: rgb{dark}; font-weight: 600"
        if color != OTHER_COLOR
        else "font-weight: 600"
    )


def badges(frame: pd.DataFrame, columns: Iterable[str] = BADGE_COLUMNS) -> Styler:
    """`frame` with its state-like columns drawn as badges (st.dataframe takes the Styler)."""
    present = [c for c in columns if c in frame.columns]
    return frame.style.map(badge_css, subset=present) if present else frame.style


def dense_height(rows: int, max_rows: int = MAX_ROWS_SHOWN) -> int | str:
    """A table height that shows up to `max_rows` rows without an inner scroll bar."""
    if rows <= 10:
        return "auto"
    return ROW_PX * (min(rows, max_rows) + 1) + 3


def show_table(frame: pd.DataFrame, column_config: dict[str, object] | None = None) -> None:
    """A table of runs or jobs: badges, full width, dense, no index."""
    st.dataframe(
        badges(frame),
        hide_index=True,
        column_config=column_config,
        width="stretch",
        height=dense_height(len(frame)),
    )
