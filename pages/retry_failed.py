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
from ui.context import timezone
from ui.filters import run_filters
from ui.fmt import local_time
from ui.guard import page_setup
from ui.job_view import show_current_job
from ui.operation import confirm_step, inert, link_config, make_preview, preview_button, start_if_confirmed
from ui.state import operation_state, widget_key

KEY = "retry"
PREVIEW_ROWS = 200
COLUMNS = ["Run", "Deployment", "Flow", "State", "Ended", "Retry at", "Action", "Notes", "Link"]
WHEN = {"now": "Now", "at": "At a time", "spread": "Spread over a window"}


def stale() -> None:
    """A changed input makes the preview out of date: it has to be made again."""
    operation_state(KEY).stale()


def preview_frame(plan: Plan, settings: Settings) -> pd.DataFrame:
    ended = retry.ended_times(plan)
    rows = [
        {
            "Run": item.name,
            "Deployment": item.deployment or "—",
            "Flow": item.flow or "—",
            "State": item.state,
            "Ended": local_time(ended.get(str(item.run_id))),
            "Retry at": "—" if item.action == SKIP else local_time(item.new_time) if item.new_time else "now",
            "Action": item.action,
            "Notes": item.reason,
            "Link": settings.run_url(item.run_id),
        }
        for item in plan.items[:PREVIEW_ROWS]
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def ended_window() -> tuple[str, str, bool]:
    """Ended after / Ended before, and whether only the newest failed run per deployment."""
    c1, c2, c3 = st.columns(3)
    ended_after = c1.text_input(
        "Ended after",
        value=query.bind(KEY, "after", "after", "now-24h", query.moment(optional=True)),
        key=widget_key(KEY, "after"),
        on_change=stale,
        help="now-6h, 10:00, 2026-11-27 10:00",
    )
    ended_before = c2.text_input(
        "Ended before",
        value=query.bind(KEY, "before", "before", "", query.moment(optional=True)),
        key=widget_key(KEY, "before"),
        on_change=stale,
        placeholder="now",
    )
    latest = c3.checkbox(
        "Only the newest failed run per deployment",
        value=query.bind(KEY, "latest", "latest", False, query.flag()),
        key=widget_key(KEY, "latest"),
        on_change=stale,
        help="A nightly job that failed three nights needs one rerun, not three.",
    )
    return ended_after, ended_before, latest


def moment_input(column, label: str, name: str, placeholder: str) -> str:  # type: ignore[no-untyped-def]
    return column.text_input(
        label,
        value=query.bind(KEY, name, name, "", query.moment(optional=True)),
        key=widget_key(KEY, name),
        on_change=stale,
        placeholder=placeholder,
    )


def when_to_run() -> tuple[str | None, tuple[str, str] | None]:
    """When the retried runs are due: now (None, None), at a time, or spread over a window."""
    c1, c2, c3 = st.columns(3)
    initial = query.bind(KEY, "when", "when", "now", query.one_of(list(WHEN), "way to run them"))
    when = c1.radio(
        "Run them",
        list(WHEN),
        index=list(WHEN).index(initial),
        format_func=WHEN.get,
        key=widget_key(KEY, "when"),
        on_change=stale,
        horizontal=True,
    )
    if when == "at":
        query.drop("from", "to")
        return moment_input(c2, "At", "at", "now+1h"), None
    if when == "spread":
        query.drop("at")
        start = moment_input(c2, "From", "from", "now")
        return None, (start or "now", moment_input(c3, "To", "to", "now+2h"))
    query.drop("at", "from", "to")
    return None, None


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
    ended_after, ended_before, latest = ended_window()
    at, spread = when_to_run()
    try:
        return retry.RetryRequest(
            states=tuple(states),
            deployments=tuple(deployments),
            flows=tuple(flows),
            work_pools=tuple(pools),
            tags=tuple(t.strip() for t in tags.split(",")),
            ended_after=ended_after,
            ended_before=ended_before,
            at=at,
            spread=spread,
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
    matching: int | None = None
    if request is not None:
        try:
            matching = call(settings, retry.count_matching, request)
        except RunopsError as exc:
            st.error(inert(exc))
    preview = preview_button(KEY, matching, request.selection().describe() if request else "")

if preview and request is not None:
    make_preview(KEY, settings, retry.plan_retry, request)

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
    if not plan.to_change:
        st.info("Every matching run is skipped: nothing to retry.")
    confirm_step(KEY, plan, settings, "Retry {n} runs…", confirm_label="Retry {n} runs")

show_current_job(KEY, settings)
