"""Overview: which API, runs by state, the late backlog per deployment, links to the jobs."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from runops.errors import RunopsError
from runops.features import overview
from runops.prefect_api.client import call
from runops.settings import public_url
from ui.badges import badges, dense_height
from ui.fmt import STATE_COLORS, ago, local_time
from ui.guard import page_setup
from ui.nav import available
from ui.operation import inert
from ui.query import page_url

LATE, HISTORY = "pages/late_runs.py", "pages/history.py"
RETRY, STUCK, CANCEL = "pages/retry_failed.py", "pages/stuck_runs.py", "pages/bulk_cancel.py"
# where a state's count leads: the page that acts on runs in that state, with the state chosen
ACT_ON = {
    "Late": (LATE, {"state": "Late"}),
    "Scheduled": (CANCEL, {"state": "Scheduled"}),
    "Pending": (CANCEL, {"state": "Pending"}),
    "Running": (CANCEL, {"state": "Running"}),
    "Completed": (HISTORY, {"failed": "0"}),
    "Failed": (RETRY, {"state": "Failed"}),
    "Crashed": (RETRY, {"state": "Crashed"}),
    "Cancelled": (RETRY, {"state": "Cancelled"}),
}

settings = page_setup("Overview")
pages = {spec.path: spec for spec in available()}

try:
    data = call(settings, overview.load_overview)
except RunopsError as exc:
    st.error(str(exc))
    st.stop()

st.caption(f"{data.total:,} flow runs on {public_url(settings.api_url)} · read {local_time(data.read_at)}")

headline = ["Late", "Scheduled", "Pending", "Running", "Completed", "Failed", "Crashed", "Cancelled"]
for row_start in range(0, len(headline), 4):
    cols = st.columns(4)
    for col, state in zip(cols, headline[row_start : row_start + 4], strict=False):
        col.metric(state, f"{data.counts.get(state, 0):,}")
        target, params = ACT_ON[state]
        spec = pages.get(target)
        if spec is not None:
            col.page_link(target, label=spec.title, icon=spec.icon, query_params=params)

others = {k: v for k, v in data.counts.items() if k not in headline and v}
if others:
    st.caption("Also: " + ", ".join(f"{k} {v:,}" for k, v in others.items()))

counts = pd.DataFrame(
    [{"State": k, "Runs": v, "Colour": STATE_COLORS.get(k, "#A1A1AA")} for k, v in data.counts.items() if v]
)
if not counts.empty:
    base = alt.Chart(counts).encode(
        x=alt.X("Runs:Q", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("State:N", sort="-x", title=None),
        tooltip=["State", "Runs"],
    )
    bars = base.mark_bar(stroke="#52525B", strokeWidth=0.5).encode(
        color=alt.Color(
            "State:N", scale=alt.Scale(domain=list(counts.State), range=list(counts.Colour)), legend=None
        )
    )
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("Runs:Q", format=","))
    chart = (bars + labels).properties(height=alt.Step(26))
    st.altair_chart(chart, width="stretch")

st.subheader("Late backlog")
if not data.late:
    st.success("No late runs.")
else:
    late = pd.DataFrame(
        [
            {
                "Deployment": row.deployment,
                "Late runs": row.count,
                "Oldest scheduled": local_time(row.oldest_scheduled),
                "Late by (oldest)": ago(row.oldest_scheduled).removesuffix(" ago"),
                "Newest scheduled": local_time(row.newest_scheduled),
                "Reschedule": page_url(LATE, {"deployment": row.deployment}),
            }
            for row in data.late
        ]
    )
    total_late = sum(row.count for row in data.late)
    st.caption(f"{total_late:,} late runs across {len(data.late):,} deployment(s), most first.")
    st.dataframe(
        badges(late),
        hide_index=True,
        width="stretch",
        height=dense_height(len(late)),
        column_config={
            "Reschedule": st.column_config.LinkColumn(
                "Reschedule", display_text="Late runs ↗", help="Late runs of this deployment", width="small"
            )
        },
    )

st.subheader("Jobs")
# the counts that say whether a job is needed, next to its link
counts_for = {
    "pages/retry_failed.py": f"{data.failed_24h:,} failed or crashed in the last 24 h",
    "pages/stuck_runs.py": f"{data.stuck:,} stuck" if data.stuck is not None else "stuck: unknown",
}
for spec in available()[1:]:
    extra = counts_for.get(spec.path)
    label = f"{spec.title}: {spec.blurb}" + (f" — {extra}" if extra else "")
    st.page_link(spec.path, label=label, icon=spec.icon)
if data.stuck_error:
    st.caption(f"Stuck runs could not be counted: {inert(data.stuck_error)}")
