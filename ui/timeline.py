"""History's timeline block: the chart, what its brush chose, and buttons carrying those runs to an action."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pandas as pd
import streamlit as st

from runops.errors import RunopsError
from runops.features.history import HistoryRequest, charts, timeline
from runops.prefect_api.client import call
from runops.settings import Settings
from ui import carry
from ui.badges import show_table
from ui.fmt import local_time

CACHE_SECONDS = 30
KEY = "history.timeline"
WHERE = "on History's timeline"
CHOSEN_ROWS = 200
# (target page, button label, what the button's count holds)
ACTIONS = (
    ("retry", "Retry these", "retry"),
    ("cancel", "Cancel these", "cancel"),
    ("late", "Reschedule these", "reschedule"),
)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Reading the timeline…")
def load(settings: Settings, request: HistoryRequest, start: datetime | None) -> timeline.Timeline:
    return call(settings, timeline.load_timeline, request, settings.run_url, None, start)


def _when(value: object) -> str:
    return local_time(value.to_pydatetime(), with_zone=False) if pd.notna(value) else "—"  # type: ignore[attr-defined]


def chart_key(request: HistoryRequest) -> str:
    """The chart's widget key, one per set of filters. Streamlit keeps a keyed chart's selection
    when the chart's data changes but does not redraw the brush (seen in Chromium): with one key
    for every filter, a brush dragged before a filter change went on choosing runs of the new
    timeline under no visible brush. Within one set of filters the key stays: a button clicked as
    the cache refreshes still carries what the brush covers (the same window and rows), though the
    redrawn chart no longer shows the brush; the table of chosen runs below it does.
    """
    shown = (
        request.deployments,
        request.flows,
        request.tags,
        request.work_pools,
        request.window,
        request.ended_after,
        request.ended_before,
        request.zone,
    )
    return f"{KEY}.chart.{hashlib.sha256(repr(shown).encode()).hexdigest()[:12]}"


def chosen_table(chosen: pd.DataFrame) -> pd.DataFrame:
    shown = chosen.head(CHOSEN_ROWS)
    return pd.DataFrame(
        {
            "Run": shown["name"],
            "Deployment": shown["deployment"],
            "State": shown["state"],
            "Started or due": shown["begin"].map(_when),
            "Ended": [
                _when(f) if k != timeline.DUE else "—"
                for k, f in zip(shown["kind"], shown["finish"], strict=True)
            ],
            "Link": shown["url"],
        }
    )


def show_timeline(settings: Settings, request: HistoryRequest, start: datetime | None) -> None:
    """The timeline of the request's runs (from `start` when the request has no window)."""
    st.subheader("Timeline")
    try:
        line = load(settings, request, start)
    except RunopsError as exc:
        st.error(str(exc))
        return
    if line.empty:
        st.info("No runs on the timeline in this window.", icon=":material/search_off:")
        return
    if line.truncated:
        st.caption(
            f"Showing {len(line.runs):,} of {line.matching:,} runs (at most {line.limit:,}: running and "
            "due runs first, then the newest finished): narrow the filters or the window to see all."
        )
    event = st.altair_chart(
        charts.timeline_chart(line),
        on_select="rerun",
        selection_mode=charts.TIMELINE_BRUSH,
        key=chart_key(request),
        width="stretch",
    )
    brush = event.selection.get(charts.TIMELINE_BRUSH) if event else None
    chosen = timeline.chosen_runs(line.runs, brush)
    acts = timeline.actions(chosen)
    st.caption(
        f"{len(chosen):,} run{'s' if len(chosen) != 1 else ''} chosen: drag across the chart to choose; "
        "each button takes those of them it can act on to that page's preview."
        if brush
        else "Drag across the chart (time × deployments) to choose runs to retry, cancel or reschedule."
    )
    columns = st.columns(len(ACTIONS))
    for column, (page, label, field) in zip(columns, ACTIONS, strict=True):
        ids = getattr(acts, field)
        if column.button(f"{label} ({len(ids)})", key=f"{KEY}.{page}", disabled=not ids, width="stretch"):
            carry.go(page, ids, WHERE)
    if not chosen.empty:
        show_table(
            chosen_table(chosen),
            {"Link": st.column_config.LinkColumn("Prefect UI", display_text="Open ↗", width="small")},
        )
