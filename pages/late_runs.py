"""Late runs: pick deployments and a policy, preview old → new times, confirm, watch progress, see the result."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from runops.engine.plan import Plan
from runops.errors import RunopsError
from runops.features import late
from runops.prefect_api.client import call
from runops.settings import Settings
from ui import query
from ui.badges import show_table
from ui.carry import banner
from ui.context import timezone
from ui.fmt import ago, local_time
from ui.guard import page_setup
from ui.job_view import show_current_job
from ui.operation import (
    confirm_step,
    forget_job,
    inert,
    link_config,
    start_if_confirmed,
)
from ui.state import operation_state, widget_key

KEY = "late"
PREVIEW_ROWS = 200
POLICY_LABELS = {
    "shift": "Shift by a delay",
    "fixed": "Move to a fixed time",
    "spread": "Spread over a window",
}
COLUMNS = ["Run", "Deployment", "State", "Scheduled for", "Late by", "New time", "Action", "Warnings", "Link"]
# leaving the older runs is the default: cancelling or deleting a backlog is a choice to make
REST_LABELS = {"leave": "Leave them as they are", "cancel": "Cancel them", "delete": "Delete them"}


def stale() -> None:
    """Any changed input makes the preview out of date: it has to be made again."""
    operation_state(KEY).stale()
    st.session_state.pop(widget_key(KEY, "consent"), None)


def preview_frame(plan: Plan, settings: Settings, now: datetime) -> pd.DataFrame:
    rows = [
        {
            "Run": item.name,
            "Deployment": item.deployment or "—",
            "State": item.state,
            "Scheduled for": local_time(item.scheduled_time),
            "Late by": ago(item.scheduled_time, now).removesuffix(" ago") if item.scheduled_time else "—",
            "New time": local_time(item.new_time) if item.new_time else "—",
            "Action": item.action,
            "Warnings": "; ".join(item.warnings),
            "Link": settings.run_url(item.run_id),
        }
        for item in plan.items[:PREVIEW_ROWS]
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


settings = page_setup("Late runs")
st.caption(
    "Reschedule late runs in bulk. In place by default: each run keeps its id, parameters, tags, "
    "job variables, work queue and history. Every run is re-read right before it changes; runs that "
    "started, finished or vanished meanwhile are skipped."
)

chosen = banner(KEY, "those still Late or Scheduled")
try:
    # not cached: two cheap reads, and a deployment created a moment ago must be offered
    choices = call(settings, late.deployment_names)
except RunopsError as exc:
    st.error(inert(exc))
    st.stop()

with st.container(border=True):
    initial = {
        "deployments": query.bind(KEY, "deployments", "deployment", [], query.many_of(choices, "deployment")),
        "states": query.bind(
            KEY, "states", "state", ["Late"], query.many_of(list(late.RESCHEDULABLE_STATES), "state")
        ),
        "policy": query.bind(KEY, "policy", "policy", "shift", query.one_of(list(POLICY_LABELS), "policy")),
    }
    c1, c2 = st.columns([3, 1])
    deployments = c1.multiselect(
        "Deployments",
        choices,
        default=initial["deployments"],
        key=widget_key(KEY, "deployments"),
        on_change=stale,
        placeholder="Choose one or more deployments",
    )
    states = c2.multiselect(
        "States",
        list(late.RESCHEDULABLE_STATES),
        default=initial["states"],
        key=widget_key(KEY, "states"),
        on_change=stale,
    )
    policy = st.radio(
        "New time",
        list(POLICY_LABELS),
        index=list(POLICY_LABELS).index(initial["policy"]),
        format_func=POLICY_LABELS.get,
        horizontal=True,
        key=widget_key(KEY, "policy"),
        on_change=stale,
    )
    c1, c2 = st.columns(2)
    delay = at = start = end = None
    long_delay = allow_long = False
    if policy == "shift":
        query.drop("at", "start", "end")
        delay = c1.text_input(
            "Delay from each run's scheduled time",
            value=query.bind(KEY, "delay", "delay", "6h", query.duration()),
            key=widget_key(KEY, "delay"),
            on_change=stale,
            help="People's units: 6h, 90m, 2d, 1h 30m.",
        )
    elif policy == "fixed":
        query.drop("delay", "start", "end")
        at = c1.text_input(
            "New time",
            value=query.bind(KEY, "at", "at", "now+1h", query.moment()),
            key=widget_key(KEY, "at"),
            on_change=stale,
            help="now+2h, or a date and time such as 2026-11-27 10:00 (your time zone unless you add one).",
        )
    else:
        query.drop("delay", "at")
        start = c1.text_input(
            "Window start",
            value=query.bind(KEY, "start", "start", "now+10m", query.moment()),
            key=widget_key(KEY, "start"),
            on_change=stale,
        )
        end = c2.text_input(
            "Window end",
            value=query.bind(KEY, "end", "end", "now+2h", query.moment()),
            key=widget_key(KEY, "end"),
            on_change=stale,
            help="Runs are spread evenly from start to end, oldest first, so a returning worker "
            "is not flooded.",
        )
    long_delay = late.is_long_move(policy, delay, at, end, zone=timezone().key)
    if long_delay:  # 99999d or a year typed wrong is a typo far more often than a plan
        allow_long = st.checkbox(
            "Yes, more than 30 days",
            key=widget_key(KEY, "allow_long"),
            on_change=stale,
            help="This moves runs more than a month ahead.",
        )
    c1, c2 = st.columns(2)
    limit_text = c1.text_input(
        "Reschedule the most recent N",
        value=query.bind(KEY, "limit", "n", "", query.text(late.parse_limit)),
        placeholder="all of them",
        key=widget_key(KEY, "limit"),
        on_change=stale,
        help="A positive whole number, e.g. 10; empty for all of them.",
    )
    limit: int | None = None
    limit_error = ""
    try:
        limit = late.parse_limit(limit_text)
    except RunopsError as exc:
        limit_error = str(exc)
        c1.error(inert(limit_error))
    rest_initial = query.bind(KEY, "rest", "rest", "leave", query.one_of(list(REST_LABELS), "choice"))
    remainder = c2.radio(
        "The rest of the backlog",
        list(REST_LABELS),
        index=list(REST_LABELS).index(rest_initial),
        format_func=REST_LABELS.get,
        horizontal=True,
        key=widget_key(KEY, "rest"),
        on_change=stale,
        disabled=limit is None,
        help="Only when N is set: what happens to the older late runs. Cancel and delete only touch "
        "runs that are still late when their turn comes.",
    )
    # bound outside the expander: a warning about the link must not hide in a closed one
    recreate_initial = query.bind(KEY, "recreate", "recreate", False, query.flag())
    with st.expander("Advanced", expanded=recreate_initial):
        recreate = st.checkbox(
            "Recreate instead of rescheduling in place",
            value=recreate_initial,
            key=widget_key(KEY, "recreate"),
            on_change=stale,
            help="The old recipe, done right: a new run with every field copied is created first, "
            "the original is deleted after. The run gets a new id and loses its history.",
        )
    preview = st.button(
        "Preview",
        icon=":material/preview:",
        key=widget_key(KEY, "preview-button"),
        disabled=(long_delay and not allow_long) or bool(limit_error),
        help="Tick “Yes, more than 30 days” first." if long_delay and not allow_long else None,
    )
    query.link_to_view()

if preview:
    stale()
    forget_job(KEY)
    try:
        request = late.RescheduleRequest(
            deployments=() if chosen else tuple(deployments),
            states=late.RESCHEDULABLE_STATES if chosen else tuple(states),
            run_ids=chosen.run_ids if chosen else (),
            policy=policy,
            delay=delay,
            at=at,
            window_start=start,
            window_end=end,
            limit=limit,
            remainder=remainder if limit is not None else "leave",
            mode="recreate" if recreate else "in_place",
            allow_long=allow_long,
            zone=timezone().key,
        )
        with st.spinner("Reading late runs…"):
            operation_state(KEY).preview = call(settings, late.plan_reschedule, request)
    except RunopsError as exc:
        st.error(inert(exc))  # messages can quote deployment names


start_if_confirmed(KEY, settings)
state = operation_state(KEY)
plan = state.preview
if plan is not None:
    counts = late.summary(plan)
    st.subheader("Preview")
    if not plan.items:
        st.info(f"No runs match ({inert(plan.selection)}): nothing to do.")
    else:
        st.markdown(f"**Policy:** {inert(plan.policy)}")
        a, b, c, d = st.columns(4)
        a.metric("Late runs found", f"{counts['matched']:,}")
        b.metric("To reschedule", f"{counts['reschedule']:,}")
        c.metric("To cancel / delete", f"{counts['cancel'] + counts['delete']:,}")
        d.metric("Left as they are", f"{counts['left']:,}")
        consent = True
        if counts["past"]:
            st.warning(
                f"{counts['past']:,} new time(s) are already in the past: those runs will be Late "
                "again at once.",
                icon=":material/warning:",
            )
            consent = st.checkbox(
                f"Yes, schedule {counts['past']:,} run(s) in the past anyway", key=widget_key(KEY, "consent")
            )
        # the dialog applies `state.plan`: the preview, with the consent when it was given
        state.plan = late.with_consent(plan) if counts["past"] and consent else plan
        frame = preview_frame(plan, settings, datetime.now(UTC))
        show_table(frame, link_config())
        if len(plan) > PREVIEW_ROWS:
            st.caption(
                f"Showing the first {PREVIEW_ROWS:,} of {len(plan):,} planned runs; all {len(plan):,} "
                "will be acted on."
            )
        confirm_step(KEY, state.plan, settings, "Apply to {n} runs…", consent=consent)

show_current_job(KEY, settings)
