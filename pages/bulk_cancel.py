"""Bulk cancel: filter runs (live count), preview the per-run action, confirm, watch progress, see the result."""

from __future__ import annotations

from dataclasses import astuple

import pandas as pd
import streamlit as st

from runops.engine.plan import SKIP, Plan
from runops.engine.selection import filter_options
from runops.errors import BadInput, RunopsError
from runops.features import cancel
from runops.prefect_api.client import call
from runops.settings import Settings
from ui import query
from ui.badges import show_table
from ui.carry import banner
from ui.context import timezone
from ui.filters import run_filters
from ui.fmt import local_time
from ui.guard import page_setup
from ui.job_view import show_current_job
from ui.operation import (
    confirm_step,
    inert,
    link_config,
    make_preview,
    preview_button,
    start_if_confirmed,
)
from ui.state import operation_state, widget_key

KEY = "cancel"
PREVIEW_ROWS = 200
COLUMNS = ["Run", "Deployment", "Flow", "State", "Scheduled for", "Action", "Notes", "Link"]
ACTION_LABELS = {
    cancel.CancelAction.CANCEL: "Cancel",
    cancel.CancelAction.MARK_CANCELLING: "Mark cancelling",
    cancel.CancelAction.FORCE_CANCEL: "Force cancel",
    SKIP: "Skip",
}


def stale() -> None:
    """A changed filter makes the preview out of date: it has to be made again."""
    operation_state(KEY).stale()


def preview_frame(plan: Plan, settings: Settings) -> pd.DataFrame:
    rows = [
        {
            "Run": item.name,
            "Deployment": item.deployment or "—",
            "Flow": item.flow or "—",
            "State": item.state,
            "Scheduled for": local_time(item.scheduled_time),
            "Action": item.action,
            "Notes": "; ".join([item.reason, *item.warnings]).strip("; "),
            "Link": settings.run_url(item.run_id),
        }
        for item in plan.items[:PREVIEW_ROWS]
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


settings = page_setup("Bulk cancel")
st.caption(
    "Cancel every matching run in one confirmed step, the way Prefect's own cancel does it: runs "
    "that have not started become Cancelled at once; Pending, Running and Paused runs become "
    "Cancelling so their worker stops the process. Finished runs are never touched: each run is "
    "re-read before it changes, and runs that appear after you confirm are left alone."
)

chosen = banner(KEY, "those not finished: Scheduled, Late, Pending, Running…")
try:
    # not cached: a few cheap reads, and a deployment created a moment ago must be offered
    options = call(settings, filter_options)
except RunopsError as exc:
    st.error(inert(exc))
    st.stop()

with st.container(border=True):
    # the states on a row of their own: all six defaults stay visible, none behind a "+3" chip
    states = st.multiselect(
        "States",
        list(cancel.CANCELLABLE_STATES),
        default=query.bind(
            KEY,
            "states",
            "state",
            list(cancel.DEFAULT_STATES),
            query.many_of(cancel.CANCELLABLE_STATES, "state"),
        ),
        key=widget_key(KEY, "states"),
        on_change=stale,
        help="Cancelling: runs stuck there (their worker never confirmed). They are skipped unless "
        "you choose force below.",
    )
    deployments, flows, pools, tags = astuple(
        run_filters(KEY, options, stale, tags_hint="e.g. nightly, team-a")
    )
    fields = list(cancel.WINDOW_FIELDS)
    window_on_initial = query.bind(KEY, "window_on", "on", fields[0], query.one_of(fields, "time field"))
    window_from_initial = query.bind(KEY, "from", "from", "", query.moment(optional=True))
    window_to_initial = query.bind(KEY, "to", "to", "", query.moment(optional=True))
    c1, c2, c3 = st.columns([1, 1, 1])
    window_on = c1.radio(
        "Time window on",
        fields,
        index=fields.index(window_on_initial),
        format_func=cancel.WINDOW_FIELDS.get,
        horizontal=True,
        key=widget_key(KEY, "window_on"),
        on_change=stale,
    )
    window_from = c2.text_input(
        "From",
        value=window_from_initial,
        key=widget_key(KEY, "from"),
        on_change=stale,
        placeholder="open",
        help="now-6h, or a date and time such as 2026-11-27 10:00 (your time zone unless you add one).",
    )
    window_to = c3.text_input(
        "To", value=window_to_initial, key=widget_key(KEY, "to"), on_change=stale, placeholder="open"
    )
    c1, c2 = st.columns(2)
    include_subflows = c1.checkbox(
        "Also cancel their sub-flow runs",
        value=query.bind(KEY, "subflows", "subflows", False, query.flag()),
        key=widget_key(KEY, "subflows"),
        on_change=stale,
    )
    # force is a consent, like the dialog's typed count: never carried in by a link
    force = c2.checkbox(
        "Force-cancel runs stuck in Cancelling",
        key=widget_key(KEY, "force"),
        on_change=stale,
        help="Only for runs whose worker never confirmed the cancel. Their process may still be running.",
    )
    if force:
        c2.warning(cancel.FORCE_WARNING, icon=":material/warning:")

    request: cancel.CancelRequest | None = None
    matching: int | None = None
    described = ""
    try:
        if not states:
            # an empty box is a choice to make, not a silent return to the defaults
            raise BadInput("Choose at least one state to cancel (e.g. Late or Scheduled).")
        selection = cancel.build_selection(
            states=states,
            deployments=deployments,
            flows=flows,
            work_pools=pools,
            tags=tags,
            window_on=window_on,
            window_from=window_from,
            window_to=window_to,
            zone=timezone().key,
        )
        if chosen is not None:
            selection = cancel.chosen_selection(chosen.run_ids, timezone().key)
        request = cancel.CancelRequest(selection, include_subflows=include_subflows, force_stuck=force)
        matching = call(settings, cancel.count_matching, selection)
        described = cancel.with_default_states(selection).describe()
    except RunopsError as exc:
        st.error(inert(exc))
    preview = preview_button(KEY, matching, described)

if preview and request is not None:
    make_preview(KEY, settings, cancel.plan_cancel, request)


start_if_confirmed(KEY, settings)
state = operation_state(KEY)
plan = state.preview
if plan is not None:
    st.subheader("Preview")
    st.markdown(f"**Selection:** {inert(plan.selection)}")
    counts = plan.counts()
    cols = st.columns(len(ACTION_LABELS))
    for col, (action, label) in zip(cols, ACTION_LABELS.items(), strict=True):
        col.metric(label, f"{counts.get(action, 0):,}")
    for warning in plan.warnings:
        st.warning(inert(warning), icon=":material/warning:")
    frame = preview_frame(plan, settings)
    show_table(frame, link_config())
    if len(plan) > PREVIEW_ROWS:
        st.caption(
            f"Showing the first {PREVIEW_ROWS:,} of {len(plan):,} planned runs; all {len(plan):,} "
            "will be acted on."
        )
    state.plan = plan
    if not plan.items:  # the runs counted above finished or went away before the preview
        st.info(f"No runs match ({inert(plan.selection)}) any more: nothing to cancel.")
    elif not plan.to_change:
        st.info("Every planned run is skipped: nothing to cancel.")
    confirm_step(KEY, plan, settings, "Cancel {n} runs…", confirm_label="Cancel {n} runs")

show_current_job(KEY, settings)
