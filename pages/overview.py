"""Overview: which API, runs by state, the late backlog per deployment, links to the jobs."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from runops import overview
from runops.connection import call
from runops.errors import RunopsError
from ui.fmt import STATE_COLORS, ago, local_time
from ui.guard import page_setup
from ui.nav import available

settings = page_setup("Overview")

try:
    data = call(settings, overview.load_overview)
except RunopsError as exc:
    st.error(str(exc))
    st.stop()

st.caption(f"{data.total:,} flow runs on {settings.api_url} · read {local_time(data.read_at)}")

headline = ["Late", "Scheduled", "Pending", "Running", "Completed", "Failed", "Crashed", "Cancelled"]
for row_start in range(0, len(headline), 4):
    cols = st.columns(4)
    for col, state in zip(cols, headline[row_start : row_start + 4], strict=False):
        col.metric(state, f"{data.counts.get(state, 0):,}")

others = {k: v for k, v in data.counts.items() if k not in headline and v}
if others:
    st.caption("Also: " + ", ".join(f"{k} {v:,}" for k, v in others.items()))

counts = pd.DataFrame(
    [{"State": k, "Runs": v, "Colour": STATE_COLORS.get(k, "#A1A1AA")} for k, v in data.counts.items() if v]
)
if not counts.empty:
    chart = (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("Runs:Q"),
            y=alt.Y("State:N", sort="-x", title=None),
            color=alt.Color(
                "State:N", scale=alt.Scale(domain=list(counts.State), range=list(counts.Colour)), legend=None
            ),
            tooltip=["State", "Runs"],
        )
        .properties(height=28 * len(counts) + 20)
    )
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
            }
            for row in data.late
        ]
    )
    st.dataframe(late, hide_index=True, width="stretch")

st.subheader("Jobs")
for spec in available()[1:]:
    st.page_link(spec.path, label=f"{spec.title}: {spec.blurb}", icon=spec.icon)
