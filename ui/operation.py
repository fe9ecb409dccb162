"""The shared confirm → job flow of every mutating page (its state: `ui.state.OperationState`)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from runops.access import reason_required
from runops.engine.plan import SKIP, Plan, PlannedRun
from runops.engine.runner import RUNNER
from runops.errors import RunopsError
from runops.prefect_api.client import call
from runops.settings import Settings
from ui import context, query
from ui.badges import badges, show_table
from ui.fmt import inert, local_time
from ui.state import operation_state, widget_key

TYPE_TO_CONFIRM_ABOVE = 25
DIALOG_ROWS = 10


def plan_frame(plan: Plan, settings: Settings, limit: int | None = None) -> pd.DataFrame:
    items = plan.items if limit is None else plan.items[:limit]
    return pd.DataFrame([_plan_row(item, settings) for item in items], columns=_PLAN_COLUMNS)


_PLAN_COLUMNS = ["Run", "Deployment", "State", "Scheduled for", "Action", "New time", "Notes", "Link"]


def _plan_row(item: PlannedRun, settings: Settings) -> dict[str, object]:
    notes = "; ".join([*([item.reason] if item.reason else []), *item.warnings])
    return {
        "Run": item.name,
        "Deployment": item.deployment or "—",
        "State": item.state,
        "Scheduled for": local_time(item.scheduled_time),
        "Action": item.action,
        "New time": local_time(item.new_time) if item.new_time else "",
        "Notes": notes,
        "Link": settings.run_url(item.run_id),
    }


def link_config() -> dict[str, object]:
    return {"Link": st.column_config.LinkColumn("Prefect UI", display_text="open ↗")}


def show_plan(plan: Plan, settings: Settings, limit: int = 200) -> None:
    """The preview table: the first `limit` rows, and the exact total said out loud."""
    frame = plan_frame(plan, settings, limit)
    show_table(frame, link_config())
    if len(plan) > limit:
        st.caption(
            f"Showing the first {limit:,} of {len(plan):,} planned runs; all {len(plan):,} will be acted on."
        )


def _close(key: str) -> None:
    operation_state(key).dialog = False


def _confirm(key: str, n: int) -> None:
    # The typed count is checked here, not by disabling the button: a count typed without Enter
    # is committed by the click itself, and a disabled button would swallow that first click.
    state = operation_state(key)
    if n > TYPE_TO_CONFIRM_ABOVE and not typed_matches(st.session_state.get(widget_key(key, "typed")), n):
        state.mistyped = True
        return
    state.dialog, state.go, state.mistyped = False, True, False


def typed_matches(typed: object, n: int) -> bool:
    return str(typed or "").strip().replace(",", "") == str(n)


def _open(key: str) -> None:
    state = operation_state(key)
    state.dialog, state.mistyped = True, False
    st.session_state.pop(widget_key(key, "typed"), None)


def confirm_button(
    key: str,
    plan: Plan,
    label: str,
    settings: Settings,
    disabled: bool = False,
    confirm_label: str = "Apply to {n} runs",
) -> None:
    """A primary button opening the confirmation dialog; the dialog stays up across reruns."""
    n = len(plan.to_change)
    st.button(
        label.format(n=f"{n:,}"),
        type="primary",
        disabled=disabled or n == 0,
        on_click=_open,
        args=(key,),
        key=widget_key(key, "open"),
    )
    if operation_state(key).dialog:
        _dialog(key, plan, settings, confirm_label)


def _dialog(key: str, plan: Plan, settings: Settings, confirm_label: str) -> None:
    @st.dialog(f"Confirm: {plan.action}", width="large", on_dismiss=lambda: _close(key))
    def body() -> None:
        if not operation_state(key).dialog:
            # Confirm/Cancel ran their callback. A dialog is a fragment: its buttons rerun only the
            # dialog, so without a full rerun it would stay open and the page would never apply.
            st.rerun()
        n = len(plan.to_change)
        st.markdown(f"**{plan.action.capitalize()}** — **{n:,}** run(s) will change.")
        st.markdown(f"**Selection:** {inert(plan.selection)}")
        if plan.policy:
            st.markdown(f"**Policy:** {inert(plan.policy)}")
        counts = plan.counts()
        cols = st.columns(max(1, len(counts)))
        for col, (action, count) in zip(cols, sorted(counts.items()), strict=False):
            col.metric(action.capitalize() if action != SKIP else "Skip", f"{count:,}")
        for warning in plan.warnings:  # warnings name runs and deployments
            st.warning(inert(warning))
        st.dataframe(
            badges(plan_frame(plan, settings, DIALOG_ROWS)),
            hide_index=True,
            column_config=link_config(),
            width="stretch",
        )
        if len(plan) > DIALOG_ROWS:
            st.caption(f"First {DIALOG_ROWS} of {len(plan):,} runs.")
        st.caption(
            "Runs that appear after you confirm are not touched; each run is re-read before it changes."
        )
        required = reason_required()
        reason = st.text_input(
            "Reason (required)" if required else "Reason (optional)",
            key=widget_key(key, "reason"),
            placeholder="e.g. INC-4711 database failover",
            help="Kept with the job and in the audit log, and written into each changed run's state "
            "message, so Prefect's UI shows it too.",
        )
        missing = required and not str(reason or "").strip()
        if n > TYPE_TO_CONFIRM_ABOVE:
            typed = st.text_input(f"Type {n} to confirm", key=widget_key(key, "typed"))
            if operation_state(key).mistyped and not typed_matches(typed, n):
                st.error(f"Type {n} (the number of runs that will change) to confirm; nothing changed.")
        if missing:
            st.caption("A reason is required here (RUNOPS_REQUIRE_REASON): type one (then Enter) to confirm.")
        left, right = st.columns(2)
        left.button(
            confirm_label.format(n=f"{n:,}"),
            type="primary",
            disabled=missing,
            on_click=_confirm,
            args=(key, n),
            key=widget_key(key, "confirm"),
            width="stretch",
        )
        right.button("Go back", on_click=_close, args=(key,), key=widget_key(key, "cancel"), width="stretch")

    body()


def start_if_confirmed(key: str, settings: Settings) -> str | None:
    """After Confirm: record the job and start it in the dashboard's background executor (it
    outlives this page's script run and the browser tab); its id goes into the URL."""
    state = operation_state(key)
    if not state.go:
        return None
    state.go = False
    plan = state.plan
    if plan is None:
        st.error("Nothing to apply: preview again.")
        return None
    try:
        job_id = RUNNER.start(
            settings,
            context.store(),
            plan,
            actor=context.actor(),
            reason=str(st.session_state.get(widget_key(key, "reason")) or ""),
        )
    except RunopsError as exc:
        st.error(inert(exc))
        return None
    state.job, state.plan, state.preview, state.found = job_id, None, None, None  # the job shows it now
    st.session_state.pop(widget_key(key, "reason"), None)
    st.query_params["job"] = job_id
    return job_id


def current_job(key: str) -> str | None:
    """The job this page shows: the one in the URL (a reload re-attaches to it), else the last started."""
    from_url = st.query_params.get("job")
    state = operation_state(key)
    if from_url:
        state.job = str(from_url)
    return state.job


def forget_job(key: str) -> None:
    """A new preview: the page is about the next job now."""
    operation_state(key).job = None
    if "job" in st.query_params:
        del st.query_params["job"]


def preview_button(key: str, matching: int | None, described: str = "") -> bool:
    """ "N runs match" and what matches (None: not counted), then Preview (disabled while nothing
    matches) and the page's own link."""
    if matching is not None:
        st.markdown(f"### {matching:,} run{'s' if matching != 1 else ''} match")
        st.caption(inert(described))
    pressed = st.button(
        "Preview", icon=":material/preview:", key=widget_key(key, "preview-button"), disabled=not matching
    )
    query.link_to_view()
    return pressed


def make_preview(
    key: str,
    settings: Settings,
    build: Callable[..., object],
    *args: object,
    spinner: str = "Reading every matching run…",
    slot: str = "preview",
) -> None:
    """A new preview (or list of findings) in the page's `slot`: the page is about the next job now."""
    operation_state(key).stale()
    forget_job(key)
    try:
        with st.spinner(spinner):
            setattr(operation_state(key), slot, call(settings, build, *args))
    except RunopsError as exc:
        st.error(inert(exc))


def confirm_step(
    key: str,
    plan: Plan,
    settings: Settings,
    label: str,
    confirm_label: str = "Apply to {n} runs",
    consent: bool = True,
) -> None:
    """Below a preview: why the user may not apply (if so), then the button opening the dialog."""
    why_not = context.refusal()
    if why_not:
        st.info(inert(why_not), icon=":material/lock:")
    confirm_button(
        key, plan, label, settings, disabled=bool(why_not) or not consent, confirm_label=confirm_label
    )
