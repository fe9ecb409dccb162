"""History: how did the last N runs go? Filters, headline numbers, charts, the runs table, CSV."""

from __future__ import annotations

from dataclasses import astuple
from datetime import timedelta

import pandas as pd
import streamlit as st

from runops.engine.selection import FilterOptions, filter_options
from runops.errors import RunopsError
from runops.features import history
from runops.features.history import charts
from runops.prefect_api.client import call
from runops.settings import Settings
from runops.timefmt import format_duration
from ui import query
from ui.badges import badges, dense_height
from ui.context import timezone
from ui.filters import run_filters
from ui.fmt import local_time
from ui.guard import page_setup
from ui.state import widget_key
from ui.timeline import load as load_timeline
from ui.timeline import show_timeline

CACHE_SECONDS = 30
WINDOWS: dict[str, timedelta | None] = {
    "Last hour": timedelta(hours=1),
    "Last 6 hours": timedelta(hours=6),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
    "Any time": None,
}
EMPTY = "No completed runs in this window"
KEY = "history"
# the window as a link says it: `days=30`; the hour windows and "any time" by name
WINDOW_CODES = {"1h": "Last hour", "6h": "Last 6 hours", "1": "Last 24 hours", "7": "Last 7 days"}
WINDOW_CODES |= {"30": "Last 30 days", "90": "Last 90 days", "any": "Any time"}


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Reading runs…")
def load(settings: Settings, request: history.HistoryRequest) -> history.History:
    return call(settings, history.load_history, request, settings.run_url)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def options(settings: Settings) -> FilterOptions:
    return call(settings, filter_options)


def refresh() -> None:
    load.clear()
    options.clear()
    load_timeline.clear()


def when(value: object) -> str:
    return local_time(value.to_pydatetime(), with_zone=False) if pd.notna(value) else "—"


def seconds(value: float | None) -> str:
    return format_duration(value) if value is not None and pd.notna(value) else "—"


settings = page_setup("History")

try:
    choices = options(settings)
except RunopsError as exc:
    st.error(str(exc))
    st.stop()

with st.container(border=True):
    deployments, flows, pools, tags = astuple(
        run_filters(KEY, choices, tags_hint="e.g. nightly, prod", tags_label="Tags (all of)")
    )
    initial_window = query.bind(KEY, "window", "days", "Last 7 days", query.coded(WINDOW_CODES, "window"))
    initial_limit = query.bind(
        KEY, "limit", "n", history.DEFAULT_LIMIT, query.number(1, history.MAX_LIMIT, whole=True)
    )
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
    window = c1.selectbox(
        "Ended", list(WINDOWS), index=list(WINDOWS).index(initial_window), key=widget_key(KEY, "window")
    )
    limit = c2.number_input(
        "Last N runs",
        min_value=1,
        max_value=history.MAX_LIMIT,
        value=int(initial_limit),
        step=100,
        key=widget_key(KEY, "limit"),
    )
    include_failed = c3.checkbox(
        "Include Failed and Crashed",
        value=query.bind(KEY, "failed", "failed", True, query.flag()),
        key=widget_key(KEY, "failed"),
        help="Needed for the success rate.",
    )
    c4.button(
        "Refresh", icon=":material/refresh:", on_click=refresh, help=f"Data is cached for {CACHE_SECONDS} s."
    )
    query.link_to_view()

try:
    request = history.HistoryRequest(
        limit=int(limit),
        deployments=tuple(deployments),
        flows=tuple(flows),
        work_pools=tuple(pools),
        tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
        window=WINDOWS[window],
        include_failed=include_failed,
        zone=timezone().key,
    )
    data = load(settings, request)
except RunopsError as exc:
    st.error(str(exc))
    st.stop()

st.caption(
    f"{data.description} · read {local_time(data.read_at)}"
    + (
        f" · showing the newest {len(data.runs):,} of {data.matching:,} matching runs"
        if data.truncated
        else ""
    )
)

if data.empty:
    st.info(f"{EMPTY}. Widen the window or change the filters.", icon=":material/search_off:")
    st.stop()

overall = data.overall
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("Runs", f"{overall.runs:,}", help=f"{data.matching:,} match the filters")
m2.metric(
    "Success rate",
    f"{overall.success_rate:.0%}" if overall.success_rate is not None else "—",
    help=f"{overall.completed:,} completed, {overall.failed:,} failed or crashed",
)
m3.metric("Median duration", seconds(overall.median_duration_s), help="Completed runs: end − start")
m4.metric("p95 duration", seconds(overall.p95_duration_s))
m5.metric(
    "Median lateness", seconds(overall.median_lateness_s), help=f"p95: {seconds(overall.p95_lateness_s)}"
)

if data.truncated:
    st.info(
        f"Showing the newest {len(data.runs):,} of {data.matching:,} matching runs."
        + (" Runs per bucket cover all of them (counted by the server)." if data.buckets_from_server else ""),
        icon=":material/info:",
    )

completions, durations, distribution, lateness = charts.history_charts(data)
st.altair_chart(completions, width="stretch")
st.altair_chart(durations, width="stretch")
st.caption("Click a deployment in a legend to highlight it; shift-click to add more.")
left, right = st.columns(2)
left.altair_chart(distribution, width="stretch")
right.altair_chart(lateness, width="stretch")

show_timeline(settings, request, data.window_start)

st.subheader("Per deployment")
summary = data.per_deployment
st.dataframe(
    pd.DataFrame(
        {
            "Deployment": summary["deployment"],
            "Runs": summary["runs"],
            "Success rate": [
                f"{r:.0%}" if r is not None and pd.notna(r) else "—" for r in summary["success_rate"]
            ],
            "Median duration": summary["median_duration_s"].map(seconds),
            "p95 duration": summary["p95_duration_s"].map(seconds),
            "Median lateness": summary["median_lateness_s"].map(seconds),
            "p95 lateness": summary["p95_lateness_s"].map(seconds),
        }
    ),
    hide_index=True,
    width="stretch",
)

st.subheader("Runs")
runs = data.runs
table = pd.DataFrame(
    {
        "Run": runs["name"],
        "Link": runs["url"],
        "State": runs["state"],
        "Deployment": runs["deployment"],
        "Scheduled": runs["scheduled_start"].map(when),  # the time it was last moved to, if moved
        "Rescheduled": runs["rescheduled"],
        "Started": runs["start"].map(when),
        "Ended": runs["end"].map(when),
        "Duration": runs["duration_s"].map(seconds),
        "Lateness": runs["lateness_s"].map(seconds),
        "Tags": runs["tags"],
    }
)
st.dataframe(
    badges(table),
    hide_index=True,
    width="stretch",
    height=dense_height(len(table)),
    column_config={
        "Scheduled": st.column_config.TextColumn("Scheduled"),
        "Rescheduled": st.column_config.CheckboxColumn(
            "Moved", help="Rescheduled in place: lateness counts from the new time", width="small"
        ),
        "Started": st.column_config.TextColumn("Started"),
        "Ended": st.column_config.TextColumn("Ended"),
        "Link": st.column_config.LinkColumn("Prefect UI", display_text="Open ↗", width="small"),
    },
)
st.download_button(
    "Download CSV",
    data=history.to_csv(runs),
    file_name="runops-history.csv",
    mime="text/csv",
    icon=":material/download:",
)
