"""Activity: every job — running ones live on top, then finished ones — and a job's own page (`?job=<id>`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from runops.store.jobs import RUNNING, Job
from runops.timefmt import format_duration
from ui import context, query
from ui.badges import show_table
from ui.fmt import local_time
from ui.guard import page_setup
from ui.job_view import UNDO_KEY, job_url, show_job, undo_panel
from ui.operation import inert, start_if_confirmed
from ui.state import widget_key

LISTED = 500
KEY = "activity"

settings = page_setup("Activity", needs_api=False)
store = context.store()

job_id = st.query_params.get("job")
if job_id:
    # a confirmed undo starts here and its own page replaces the job's (`?job=<the undo>`)
    job_id = start_if_confirmed(UNDO_KEY, settings) or str(job_id)
    st.page_link("pages/activity.py", label="All jobs", icon=":material/arrow_back:")
    st.caption("This job's own link, to paste to a colleague:")
    st.code(query.view_link(), language=None)
    shown = show_job(job_id, settings)
    if shown is not None and shown.status != RUNNING:
        undo_panel(shown, settings)
    st.stop()


def jobs_frame(found: list[Job]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Status": [j.status for j in found],
            "Job": [job_url(j.id) for j in found],
            "Done": [j.totals["done"] for j in found],
            "Skipped": [j.totals["skipped"] for j in found],
            "Failed": [j.totals["failed"] for j in found],
            "Not attempted": [j.totals["not_attempted"] for j in found],
            "Planned": [j.planned for j in found],
            "Started": [local_time(j.started) for j in found],
            "Who": [j.actor for j in found],
            "Action": [j.action for j in found],
            "Selection": [j.selection for j in found],
            "Reason": [j.reason for j in found],
            "Took": [format_duration(j.duration_s) if j.duration_s else "—" for j in found],
        }
    )


TABLE_CONFIG = {
    "Job": st.column_config.LinkColumn("Job", display_text="open ↗", width="small"),
    "Selection": st.column_config.TextColumn("Selection", width="medium"),
}


@st.fragment(run_every=2.0)
def running_now() -> None:
    """Running jobs of every session and replica, re-read every two seconds."""
    running = store.jobs.list(limit=LISTED, status=RUNNING)
    if not running:
        st.caption("No job is running.")
        return
    st.subheader(f"Running now ({len(running)})")
    for job in running:
        with st.container(border=True):
            t = job.totals
            st.markdown(
                f"**{inert(job.action.capitalize())}** · {inert(job.actor)} · [open ↗]({job_url(job.id)})"
            )
            st.progress(
                job.answered / max(job.planned, 1),
                text=f"{job.answered:,} / {job.planned:,} answered · {t['done']:,} done · "
                f"{t['skipped']:,} skipped · {t['failed']:,} failed",
            )


running_now()

found = store.jobs.list(limit=LISTED)
finished = [j for j in found if j.status != RUNNING]
if not found:
    st.info("No jobs yet. Every change runops makes — from a page or the CLI — is recorded here as a job.")
    st.stop()

st.subheader("Jobs")
people, actions, statuses = (
    sorted({getattr(j, field) for j in finished}) for field in ("actor", "action", "status")
)
initial = {
    "who": query.bind(KEY, "who", "who", [], query.many_of(people, "person with a finished job")),
    "action": query.bind(KEY, "action", "action", [], query.many_of(actions, "action")),
    "status": query.bind(KEY, "status", "status", [], query.many_of(statuses, "status")),
}
left, middle, right = st.columns(3)
who = left.multiselect("Who", people, default=initial["who"], key=widget_key(KEY, "who"))
action = middle.multiselect("Action", actions, default=initial["action"], key=widget_key(KEY, "action"))
status = right.multiselect("Status", statuses, default=initial["status"], key=widget_key(KEY, "status"))
shown = [
    j
    for j in finished
    if (not who or j.actor in who)
    and (not action or j.action in action)
    and (not status or j.status in status)
]
st.caption(f"{len(shown):,} of {len(finished):,} jobs not running, newest first")
table = jobs_frame(shown)
show_table(table, TABLE_CONFIG)
st.download_button(
    "Download jobs (CSV)", table.to_csv(index=False), file_name="runops-jobs.csv", mime="text/csv"
)
