"""Retry failed: pick failed/crashed runs (live count), preview, confirm, watch progress, see the result."""

from __future__ import annotations

from dataclasses import astuple

import pandas as pd
import streamlit as st

from runops.engine.plan import SKIP, Plan
from runops.engine.selection import filter_options
from runops.errors import RunopsError
from runops.features import retry
from runops.prefect_api.client import call
from runops.settings import Settings
from ui import query
from ui.badges import show_table
from ui.carry import Carried, banner
from ui.context import refusal, timezone
from ui.filters import run_filters
from ui.fmt import local_time
from ui.guard import page_setup
from ui.job_view import show_job
from ui.operation import confirm_button, current_job, forget_job, inert, link_config, start_if_confirmed
from ui.state import operation_state, widget_key

KEY = "retry"
PREVIEW_ROWS = 200
COLUMNS = ["Run", "Deployment", "Flow", "State", "Ended", "Retry at", "Action", "Notes", "Link"]
WHEN = {"now": "Now", "at": "At a time", "spread": "Spread over a window"}


def stale() -> None:
    """A changed input makes the preview out of date: it has to be made again."""
    operation_state(KEY).stale()


def preview_frame(plan: Plan, settings: Settings) -> pd.DataFrame:
    rows = [
        {
            "Run": item.name,
            "Deployment": item.deployment or "—",
            "Flow": item.flow or "—",
            "State": item.state,
            "Ended": local_time(retry.ended_at(plan, item.run_id)),
            "Retry at": "—" if item.action == SKIP else local_time(item.new_time) if item.new_time else "now",
            "Action": item.action,
            "Notes": item.reason,
            "Link": settings.run_url(item.run_id),
        }
        for item in plan.items[:PREVIEW_ROWS]
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def form(options) -> retry.RetryRequest | None:  # type: ignore[no-untyped-def]
    """The request the form describes (None, with the reason shown, when it is not valid)."""
    states = st.multiselect(
        "States",
        list(retry.RETRYABLE),
        default=query.bind(
            KEY, "states", "state", list(retry.DEFAULT_STATES), query.many_of(list(retry.RETRYABLE), "state")
        ),
        key=widget_key(KEY, "states"),
        on_change=stale,
        help="Cancelled runs only when you choose them: a cancel is usually meant.",
    )
    deployments, flows, pools, tags = astuple(run_filters(KEY, options, stale))
    initial = {
        "after": query.bind(KEY, "after", "after", "now-24h", query.moment(optional=True)),
        "before": query.bind(KEY, "before", "before", "", query.moment(optional=True)),
        "latest": query.bind(KEY, "latest", "latest", False, query.flag()),
        "when": query.bind(KEY, "when", "when", "now", query.one_of(list(WHEN), "way to run them")),
    }
    c1, c2, c3 = st.columns(3)
    ended_after = c1.text_input(
        "Ended after",
        value=initial["after"],
        key=widget_key(KEY, "after"),
        on_change=stale,
        help="now-6h, 10:00, 2026-11-27 10:00",
    )
    ended_before = c2.text_input(
        "Ended before",
        value=initial["before"],
        key=widget_key(KEY, "before"),
        on_change=stale,
        placeholder="now",
    )
    latest = c3.checkbox(
        "Only the newest failed run per deployment",
        value=initial["latest"],
        key=widget_key(KEY, "latest"),
        on_change=stale,
        help="A nightly job that failed three nights needs one rerun, not three.",
    )
    c1, c2, c3 = st.columns(3)
    when = c1.radio(
        "Run them",
        list(WHEN),
        index=list(WHEN).index(initial["when"]),
        format_func=WHEN.get,
        key=widget_key(KEY, "when"),
        on_change=stale,
        horizontal=True,
    )
    at = spread_end = ""
    if when == "at":
        query.drop("from", "to")
        at = c2.text_input(
            "At",
            value=query.bind(KEY, "at", "at", "", query.moment(optional=True)),
            key=widget_key(KEY, "at"),
            on_change=stale,
            placeholder="now+1h",
        )
    elif when == "spread":
        query.drop("at")
        at = c2.text_input(
            "From",
            value=query.bind(KEY, "from", "from", "", query.moment(optional=True)),
            key=widget_key(KEY, "from"),
            on_change=stale,
            placeholder="now",
        )
        spread_end = c3.text_input(
            "To",
            value=query.bind(KEY, "to", "to", "", query.moment(optional=True)),
            key=widget_key(KEY, "to"),
            on_change=stale,
            placeholder="now+2h",
        )
    else:
        query.drop("at", "from", "to")
    try:
        return retry.RetryRequest(
            states=tuple(states),
            deployments=tuple(deployments),
            flows=tuple(flows),
            work_pools=tuple(pools),
            tags=tuple(t.strip() for t in tags.split(",")),
            ended_after=ended_after,
            ended_before=ended_before,
            at=at if when == "at" else None,
            spread=(at or "now", spread_end) if when == "spread" else None,
            latest_per_deployment=latest,
            zone=timezone().key,
        )
    except RunopsError as exc:
        st.error(inert(exc))
        return None


def chosen_request(request: retry.RetryRequest, chosen: Carried) -> retry.RetryRequest:
    """Exactly the carried runs (those still Failed or Crashed), retried when the form says."""
    return retry.RetryRequest(
        run_ids=chosen.run_ids,
        at=request.at,
        spread=request.spread,
        latest_per_deployment=request.latest_per_deployment,
        zone=request.zone,
    )


settings = page_setup("Retry failed")
st.caption(
    "Put failed and crashed runs back to Scheduled in place — the same run, id, parameters, tags and job "
    "variables, so its worker runs it again and Prefect keeps its history. Runs without a deployment "
    "cannot be retried this way and are listed as skipped; a run that changed after the preview "
    "(retried by someone else, deleted) is skipped."
)
chosen = banner(KEY, "those still Failed or Crashed")
try:
    options = call(settings, filter_options)
except RunopsError as exc:
    st.error(inert(exc))
    st.stop()

with st.container(border=True):
    request = form(options)
    if chosen is not None and request is not None:
        request = chosen_request(request, chosen)
    matching = 0
    if request is not None:
        try:
            matching = call(settings, retry.count_matching, request)
            st.markdown(f"### {matching:,} run{'s' if matching != 1 else ''} match")
            st.caption(inert(request.selection().describe()))
        except RunopsError as exc:
            st.error(inert(exc))
    preview = st.button(
        "Preview", icon=":material/preview:", key=widget_key(KEY, "preview-button"), disabled=not matching
    )
    query.link_to_view()

if preview and request is not None:
    stale()
    forget_job(KEY)
    try:
        with st.spinner("Reading every matching run…"):
            operation_state(KEY).preview = call(settings, retry.plan_retry, request)
    except RunopsError as exc:
        st.error(inert(exc))

start_if_confirmed(KEY, settings)
state = operation_state(KEY)
plan = state.preview
if plan is not None:
    st.subheader("Preview")
    st.markdown(f"**Selection:** {inert(plan.selection)}  \n**Policy:** {inert(plan.policy)}")
    numbers = retry.summary(plan)
    c1, c2, c3 = st.columns(3)
    c1.metric("Matched", f"{numbers['matched']:,}")
    c2.metric("Retry", f"{numbers['retry']:,}")
    c3.metric("Skip", f"{numbers['skip']:,}")
    frame = preview_frame(plan, settings)
    show_table(frame, link_config())
    if len(plan) > PREVIEW_ROWS:
        st.caption(f"Showing the first {PREVIEW_ROWS:,} of {len(plan):,} planned runs; all will be acted on.")
    state.plan = plan
    why_not = refusal()
    if why_not:
        st.info(inert(why_not), icon=":material/lock:")
    if not plan.to_change:
        st.info("Every matching run is skipped: nothing to retry.")
    confirm_button(
        KEY, plan, "Retry {n} runs…", settings, disabled=bool(why_not), confirm_label="Retry {n} runs"
    )

job_id = current_job(KEY)
if job_id:
    st.subheader("Job")
    show_job(job_id, settings)
