"""Stuck runs: find runs stuck far longer than usual, choose which to clear, confirm, watch progress, see the result."""

from __future__ import annotations

from dataclasses import astuple

import pandas as pd
import streamlit as st

from runops.engine.plan import Plan
from runops.engine.selection import filter_options
from runops.errors import RunopsError
from runops.features import stuck
from runops.prefect_api.client import call
from runops.settings import Settings
from runops.timefmt import format_duration
from ui import query
from ui.badges import show_table
from ui.filters import run_filters
from ui.fmt import local_time
from ui.guard import page_setup
from ui.job_view import show_current_job
from ui.operation import confirm_step, inert, link_config, make_preview, start_if_confirmed
from ui.state import operation_state, widget_key

KEY = "stuck"
PREVIEW_ROWS = 200
# liveness and the numbers first: on a laptop screen the table's right end is cut off
COLUMNS = [
    "Run",
    "State",
    "In state",
    "Usual (p95)",
    "Limit",
    "Work pool",
    "Worker",
    "Action",
    "Deployment",
    "Since",
    "Rule",
    "Link",
]


def stale() -> None:
    """A changed filter makes the findings out of date: look again."""
    operation_state(KEY).stale()


def findings_frame(findings: stuck.Findings, plan: Plan, settings: Settings) -> pd.DataFrame:
    actions = {item.run_id: item.action for item in plan.items}
    rows = [
        {
            "Run": r.name,
            "Deployment": r.deployment or "—",
            "State": r.state,
            "Since": local_time(r.since),
            "In state": format_duration(r.in_state),
            "Usual (p95)": f"{format_duration(r.usual.p95)} ({r.usual.runs} runs)"
            if r.usual.p95
            else "no history",
            "Limit": format_duration(r.limit),
            "Rule": r.basis,
            "Work pool": r.work_pool or "—",
            "Worker": r.worker_words,
            "Action": actions.get(r.run_id, "skip"),
            "Link": settings.run_url(r.run_id),
        }
        for r in findings.stuck[:PREVIEW_ROWS]
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def request_form(options) -> stuck.StuckRequest | None:  # type: ignore[no-untyped-def]
    deployments, flows, pools, tags = astuple(run_filters(KEY, options, stale))
    initial = {
        "k": query.bind(KEY, "k", "k", 3.0, query.number(minimum=0.1, maximum=1000)),
        "older": query.bind(KEY, "older", "older", "2h", query.duration()),
        "cancelling": query.bind(KEY, "cancelling", "cancelling", "10m", query.duration()),
    }
    c1, c2, c3 = st.columns(3)
    k = c1.number_input(
        "k × the usual duration",
        value=float(initial["k"]),
        step=0.5,
        key=widget_key(KEY, "k"),
        on_change=stale,
        help="Running or Pending longer than k × the p95 duration of the deployment's completed runs.",
    )
    older = c2.text_input(
        "Too little history: older than",
        value=initial["older"],
        key=widget_key(KEY, "older"),
        on_change=stale,
        help=f"For deployments with fewer than {stuck.MIN_HISTORY} completed runs.",
    )
    cancelling = c3.text_input(
        "Cancelling for more than",
        value=initial["cancelling"],
        key=widget_key(KEY, "cancelling"),
        on_change=stale,
    )
    try:
        return stuck.StuckRequest(
            deployments=tuple(deployments),
            flows=tuple(flows),
            work_pools=tuple(pools),
            tags=tuple(t.strip() for t in tags.split(",")),
            k=k,
            older_than=older,
            cancelling_for=cancelling,
        )
    except RunopsError as exc:
        st.error(inert(exc))
        return None


settings = page_setup("Stuck runs")
st.caption(
    "Runs left Running or Pending long after their worker died, or Cancelling forever. A run counts as "
    "stuck when it has been in its state far longer than its deployment usually takes (k × the p95 of its "
    "completed runs). Clearing marks Running/Pending runs Crashed and Cancelling runs Cancelled; optionally "
    "they are retried in place right after."
)
try:
    options = call(settings, filter_options)
except RunopsError as exc:
    st.error(inert(exc))
    st.stop()

with st.container(border=True):
    request = request_form(options)
    look = st.button(
        "Find stuck runs", icon=":material/search:", key=widget_key(KEY, "find"), disabled=request is None
    )
    query.link_to_view()

if look and request is not None:
    spinner = "Reading active runs and their deployments' history…"
    make_preview(KEY, settings, stuck.find_stuck, request, spinner=spinner, slot="found")

start_if_confirmed(KEY, settings)
state = operation_state(KEY)
findings: stuck.Findings | None = state.found
if findings is not None:
    st.subheader(f"{len(findings.stuck):,} stuck of {findings.checked:,} active run(s)")
    st.caption(inert(f"{findings.selection}; stuck: {findings.request.rule_words()}"))
    names = {r.run_id: f"{r.name} ({r.state})" for r in findings.stuck}
    left = st.multiselect(
        "Leave these alone",
        list(names),
        format_func=names.get,
        key=widget_key(KEY, "skip"),
        placeholder="clear all of them",
    )
    crashable = {r.run_id: names[r.run_id] for r in findings.stuck if r.action == stuck.MARK_CRASHED}
    instead = st.multiselect(
        "Mark these Cancelled instead of Crashed",
        [run_id for run_id in crashable if run_id not in left],
        format_func=crashable.get,
        key=widget_key(KEY, "cancel_instead"),
        placeholder="none: Running and Pending runs become Crashed",
        help="Crashed counts as a failure (automations on failure fire); Cancelled does not.",
    )
    again = st.checkbox("Then retry them (back to Scheduled, in place)", key=widget_key(KEY, "retry"))
    plan = stuck.plan_from(findings, skip=left, retry=again, cancel_instead=instead)
    counts = plan.counts()
    c1, c2, c3 = st.columns(3)
    c1.metric("Mark crashed", f"{counts.get(stuck.MARK_CRASHED, 0):,}")
    c2.metric("Mark cancelled", f"{counts.get(stuck.MARK_CANCELLED, 0):,}")
    c3.metric("Left alone", f"{counts.get('skip', 0):,}")
    st.warning(stuck.FORCE_WARNING, icon=":material/warning:")
    if any(r.pool is not None and r.pool.live for r in findings.stuck):
        st.info("Some runs' work pool has a live worker: those runs may only be slow. Check before clearing.")
    frame = findings_frame(findings, plan, settings)
    show_table(frame, link_config())
    if len(findings.stuck) > PREVIEW_ROWS:
        st.caption(f"Showing the first {PREVIEW_ROWS:,} of {len(findings.stuck):,} stuck runs.")
    state.plan = plan
    confirm_step(KEY, plan, settings, "Clear {n} stuck runs…", confirm_label="Clear {n} runs")

show_current_job(KEY, settings)
