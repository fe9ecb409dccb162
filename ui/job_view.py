"""A job on a page: live progress while it runs (any session, any replica), then its per-run report."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from runops.engine.runner import RUNNER
from runops.errors import RunopsError
from runops.features import undo
from runops.prefect_api.client import call
from runops.settings import Settings
from runops.store.jobs import DONE, FAILED, RUNNING, Job, JobRun
from runops.timefmt import format_duration
from ui import context
from ui.badges import show_table
from ui.fmt import local_time
from ui.operation import confirm_button, current_job, inert, link_config, show_plan
from ui.state import operation_state

STATUS_LOOK = {
    RUNNING: (":material/sync:", "blue"),
    DONE: (":material/check_circle:", "green"),
    FAILED: (":material/error:", "red"),
    "stopped": (":material/stop_circle:", "gray"),
    "interrupted": (":material/warning:", "orange"),
}
RUN_COLUMNS = [
    "Outcome",
    "Run",
    "Link",
    "Deployment",
    "Action",
    "Before",
    "Scheduled for",
    "New time",
    "After",
    "Reason",
]
LIVE_EVERY_S = 1.0
UNDO_KEY = "undo"  # the undo's confirm → job flow (ui/operation.py), one per session


def job_url(job_id: str) -> str:
    """The job's own page (relative: works behind any host name)."""
    return f"/activity?job={job_id}"


def status_badge(status: str) -> str:
    icon, colour = STATUS_LOOK.get(status, (":material/help:", "gray"))
    return f":{colour}-badge[{icon} {status}]"


def runs_frame(runs: list[JobRun], settings: Settings, running: bool = False) -> pd.DataFrame:
    # a run without an answer is still to come while the job runs; after it, not attempted (or
    # its answer was lost with the process: a resume re-reads it)
    unanswered = "pending" if running else "not attempted"
    rows = [
        {
            "Outcome": run.outcome or unanswered,
            "Run": run.item.name,
            "Deployment": run.item.deployment or "—",
            "Action": run.item.action,
            "Before": run.item.state,
            "Scheduled for": local_time(run.item.scheduled_time),
            "New time": local_time(run.item.new_time) if run.item.new_time else "",
            "After": run.after or "—",
            "Reason": run.reason or "",
            "Link": settings.run_url(run.item.run_id),
        }
        for run in runs
    ]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _counts(job: Job) -> None:
    t = job.totals
    a, b, c, d, e = st.columns(5)
    a.metric("Done", f"{t['done']:,}")
    b.metric("Skipped", f"{t['skipped']:,}")
    c.metric("Failed", f"{t['failed']:,}")
    d.metric("Not attempted", f"{t['not_attempted']:,}")
    took = "…" if job.status == RUNNING else format_duration(job.duration_s) if job.duration_s else "—"
    e.metric("Took", took)


def _stop(job_id: str) -> None:
    RUNNER.stop(context.store(), job_id)


def _resume(job_id: str, settings: Settings) -> None:
    try:
        RUNNER.resume(settings, context.store(), job_id, actor=context.actor())
    except RunopsError as exc:
        st.session_state[f"job.{job_id}.error"] = str(exc)


def _heading(job: Job) -> None:
    st.markdown(
        f"{status_badge(job.status)} **{inert(job.action.capitalize())}** · job `{job.id}` · "
        f"{inert(job.actor)} · started {local_time(job.started)}"
    )
    st.caption(
        f"Selection: {inert(job.selection)}" + (f" · Reason: {inert(job.reason)}" if job.reason else "")
    )


def show_job(job_id: str, settings: Settings, *, runs_table: bool = True) -> Job | None:
    """The job's panel: live while it runs (re-read every second), its report once it ended."""
    store = context.store()
    try:
        job = store.jobs.get(job_id)
    except RunopsError as exc:
        st.error(inert(exc))
        return None
    if job.status == RUNNING:
        _live(job_id)
        return job
    _heading(job)
    _counts(job)
    t = job.totals
    summary = (
        f"{t['done']:,} done, {t['skipped']:,} skipped, {t['failed']:,} failed, "
        f"{t['not_attempted']:,} not attempted of {job.planned:,} planned"
    )
    if job.status == DONE:
        st.success(f"Finished: {summary}.", icon=":material/check_circle:")
    elif job.status == FAILED:
        st.error(f"Finished with failures: {summary}.", icon=":material/error:")
    else:
        st.warning(
            f"{job.status.capitalize()}: {summary}. Resume finishes it: each run not yet done is re-read "
            "and changed only if it is still as planned.",
            icon=":material/warning:",
        )
    for note in job.notes:
        st.caption(inert(note))
    error = st.session_state.pop(f"job.{job_id}.error", None)
    if error:
        st.error(inert(error))
    if job.open_runs and not context.refusal():
        st.button(
            f"Resume: {job.open_runs:,} run(s) not done",
            icon=":material/replay:",
            key=f"job.{job_id}.resume",
            on_click=_resume,
            args=(job_id, settings),
        )
    if runs_table:
        frame = runs_frame(store.jobs.runs(job_id), settings)
        show_table(frame, link_config())
    return job


@st.fragment(run_every=LIVE_EVERY_S)
def _live(job_id: str) -> None:
    job = context.store().jobs.get(job_id)
    if job.status != RUNNING:
        st.rerun()  # the whole page: the report replaces the live panel
    _heading(job)
    t = job.totals
    st.progress(
        job.answered / max(job.planned, 1),
        text=f"{job.answered:,} / {job.planned:,} answered · {t['done']:,} done · {t['skipped']:,} skipped · "
        f"{t['failed']:,} failed",
    )
    _counts(job)
    st.caption(
        "This job runs in the dashboard's background: closing this tab, going Back or reloading "
        f"does not stop it. Its page: [{job_url(job_id)}]({job_url(job_id)})"
    )
    if not context.refusal():
        st.button("Stop", icon=":material/stop:", key=f"job.{job_id}.stop", on_click=_stop, args=(job_id,))


def _preview_undo(job_id: str, settings: Settings) -> None:
    state = operation_state(UNDO_KEY)
    state.stale()
    state.found = job_id  # the job this preview undoes: another job's page shows none
    request = undo.UndoRequest(job_id, context.store(), zone=context.timezone().key)
    try:
        state.preview = call(settings, undo.plan_undo, request)
    except RunopsError as exc:
        st.session_state[f"job.{job_id}.error"] = str(exc)


def undo_panel(job: Job, settings: Settings) -> None:
    """Undo…: its own preview (each run re-read now) and confirmation; the undo is a job."""
    if job.action == undo.ACTION:
        st.caption("This job is an undo; an undo cannot be undone.")
        return
    if undo.refusal(job) is not None:
        return
    why_not = context.refusal()
    st.button(
        "Undo…",
        icon=":material/undo:",
        key=f"job.{job.id}.undo",
        on_click=_preview_undo,
        args=(job.id, settings),
        disabled=bool(why_not),
        help="Put back the runs this job changed, only those still exactly as it left them.",
    )
    state = operation_state(UNDO_KEY)
    plan = state.preview if state.found == job.id else None
    if plan is None:
        return
    st.subheader("Undo preview")
    st.markdown(f"**Policy:** {inert(plan.policy)}")
    numbers = undo.summary(plan)
    left, right = st.columns(2)
    left.metric("Undo", f"{numbers['undo']:,}")
    right.metric("Left as they are", f"{numbers['skip']:,}")
    show_plan(plan, settings)
    stopped = undo.started_runs(plan)
    if stopped:
        st.info(
            f"{len(stopped):,} run(s) had started when the job cancelled them: their process was stopped, "
            "so they cannot be undone. Retry them instead (choose the state Cancelled).",
            icon=":material/info:",
        )
        st.page_link("pages/retry_failed.py", label="Retry failed", icon=":material/replay:")
    if not plan.to_change:
        st.info("Nothing to undo: every run has moved on since the job (the Notes say how).")
    state.plan = plan
    confirm_button(
        UNDO_KEY, plan, "Undo {n} runs…", settings, disabled=bool(why_not), confirm_label="Undo {n} runs"
    )


def show_current_job(key: str, settings: Settings) -> None:
    """The job a page started (or the one its URL names), live."""
    job_id = current_job(key)
    if job_id:
        st.subheader("Job")
        show_job(job_id, settings)
