"""Activity: every operation runops applied — who, when, what, outcome — and its runs."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from runops.timefmt import format_duration
from ui import context
from ui.fmt import local_time
from ui.guard import page_setup

settings = page_setup("Activity", needs_api=False)
log = context.audit_log()
operations = pd.DataFrame(log.operations(limit=5000))

if operations.empty:
    st.info(f"No operations recorded yet. Every apply of a bulk job is recorded in {log.path}.")
    st.stop()

operations["at"] = pd.to_datetime(operations["at"], utc=True, format="ISO8601")
left, middle, right = st.columns(3)
who = left.multiselect("Who", sorted(operations["actor"].unique()))
action = middle.multiselect("Action", sorted(operations["action"].unique()))
# Days are the viewer's days: the server's own date (UTC here) ends the range an hour early in
# Berlin, and hides every operation recorded between 23:00 and midnight UTC.
tz = context.timezone()
oldest = operations["at"].min().tz_convert(tz).date()
today = max(datetime.now(tz).date(), oldest)
days = right.date_input("Dates", value=(oldest, today), min_value=oldest - timedelta(days=1))

shown = operations
if who:
    shown = shown[shown["actor"].isin(who)]
if action:
    shown = shown[shown["action"].isin(action)]
if isinstance(days, tuple) and len(days) == 2:
    start = datetime.combine(days[0], time.min, tzinfo=tz)
    end = datetime.combine(days[1], time.max, tzinfo=tz)
    shown = shown[(shown["at"] >= start) & (shown["at"] <= end)]

st.caption(f"{len(shown):,} of {len(operations):,} operations · stored append-only in {log.path}")
table = pd.DataFrame(
    {
        "#": shown["id"],
        "When": [local_time(t.to_pydatetime()) for t in shown["at"]],
        "Who": shown["actor"],
        "Action": shown["action"],
        "Selection": shown["selection"],
        "Planned": shown["planned"],
        "Done": shown["done"],
        "Skipped": shown["skipped"],
        "Failed": shown["failed"],
        "Took": [format_duration(s) for s in shown["duration_s"]],
    }
)
st.dataframe(table, hide_index=True, width="stretch")
st.download_button(
    "Download operations (CSV)", table.to_csv(index=False), file_name="runops-operations.csv", mime="text/csv"
)

if not shown.empty:
    st.subheader("Runs of one operation")
    labels = {
        int(row.id): f"#{row.id} · {local_time(row.at.to_pydatetime())} · {row.actor} · {row.action}"
        for row in shown.itertuples()
    }
    chosen = st.selectbox("Operation", list(labels), format_func=labels.get)
    runs = pd.DataFrame(log.runs(chosen))
    if runs.empty:
        st.info("This operation touched no runs.")
    else:
        runs["link"] = [settings.run_url(r) for r in runs["run_id"]]
        detail = runs[
            ["name", "deployment", "action", "before", "after", "outcome", "reason", "run_id", "link"]
        ]
        st.dataframe(
            detail,
            hide_index=True,
            width="stretch",
            column_config={"link": st.column_config.LinkColumn("Prefect UI", display_text="open ↗")},
        )
        st.download_button(
            "Download these runs (CSV)",
            detail.to_csv(index=False),
            file_name=f"runops-operation-{chosen}.csv",
            mime="text/csv",
        )
