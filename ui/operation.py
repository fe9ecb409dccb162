"""The shared confirm → apply → report flow of every mutating page.

State per operation `key` in st.session_state:
  {key}.plan    the previewed Plan (frozen; what the dialog shows and apply runs)
  {key}.dialog  True while the confirmation dialog is open
  {key}.go      set by the dialog's Confirm (an on_click callback, so AppTest can drive it)
  {key}.report  the Report of the last apply
  {key}.applied the Plan of the last apply (for "… what failed again")
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import streamlit as st

from runops.errors import RunopsError
from runops.operations import FAILED, SKIP, Plan, PlannedRun, Progress, Report, RunResult, only
from runops.settings import Settings
from runops.timefmt import format_duration
from ui.fmt import local_time

TYPE_TO_CONFIRM_ABOVE = 25
WORD_JOINER = "\u2060"
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
    st.dataframe(frame, hide_index=True, column_config=link_config(), width="stretch")
    if len(plan) > limit:
        st.caption(
            f"Showing the first {limit:,} of {len(plan):,} planned runs; all {len(plan):,} will be acted on."
        )


def _close(key: str) -> None:
    st.session_state[f"{key}.dialog"] = False


def _confirm(key: str) -> None:
    st.session_state[f"{key}.dialog"] = False
    st.session_state[f"{key}.go"] = True


def _open(key: str) -> None:
    st.session_state[f"{key}.dialog"] = True
    st.session_state.pop(f"{key}.typed", None)


def confirm_button(key: str, plan: Plan, label: str, settings: Settings, disabled: bool = False) -> None:
    """A primary button opening the confirmation dialog; the dialog stays up across reruns."""
    n = len(plan.to_change)
    st.button(
        label.format(n=f"{n:,}"),
        type="primary",
        disabled=disabled or n == 0,
        on_click=_open,
        args=(key,),
        key=f"{key}.open",
    )
    if st.session_state.get(f"{key}.dialog"):
        _dialog(key, plan, settings)


def _dialog(key: str, plan: Plan, settings: Settings) -> None:
    @st.dialog(f"Confirm: {plan.action}", width="large", on_dismiss=lambda: _close(key))
    def body() -> None:
        if not st.session_state.get(f"{key}.dialog"):
            # Confirm/Cancel ran their callback. A dialog is a fragment: its buttons rerun only the
            # dialog, so without a full rerun it would stay open and the page would never apply.
            st.rerun()
        n = len(plan.to_change)
        st.markdown(f"**{plan.action.capitalize()}** — **{n:,}** run(s) will change.")
        st.markdown(f"**Selection:** {_inert(plan.selection)}")
        if plan.policy:
            st.markdown(f"**Policy:** {_inert(plan.policy)}")
        counts = plan.counts()
        cols = st.columns(max(1, len(counts)))
        for col, (action, count) in zip(cols, sorted(counts.items()), strict=False):
            col.metric(action.capitalize() if action != SKIP else "Skip", f"{count:,}")
        for warning in plan.warnings:  # warnings name runs and deployments
            st.warning(inert(warning))
        st.dataframe(
            plan_frame(plan, settings, DIALOG_ROWS),
            hide_index=True,
            column_config=link_config(),
            width="stretch",
        )
        if len(plan) > DIALOG_ROWS:
            st.caption(f"First {DIALOG_ROWS} of {len(plan):,} runs.")
        st.caption(
            "Runs that appear after you confirm are not touched; each run is re-read before it changes."
        )
        ready = True
        if n > TYPE_TO_CONFIRM_ABOVE:
            typed = st.text_input(f"Type {n} to confirm", key=f"{key}.typed")
            ready = typed.strip().replace(",", "") == str(n)
        left, right = st.columns(2)
        left.button(
            "Confirm",
            type="primary",
            disabled=not ready,
            on_click=_confirm,
            args=(key,),
            key=f"{key}.confirm",
            width="stretch",
        )
        right.button("Cancel", on_click=_close, args=(key,), key=f"{key}.cancel", width="stretch")

    body()


def inert(text: object) -> str:
    """Markdown-escape user-controlled text (run names, tags, e-mails, error messages) so it
    renders as text, not markup, wherever Streamlit reads Markdown (markdown, captions, alerts,
    progress text)."""
    specials = "\\`*_{}[]()#+-.!|<>~$:"
    escaped = "".join("\\" + ch if ch in specials else ch for ch in str(text))
    # Escapes do not stop GFM's bare-URL and e-mail autolinks (checked in Chromium): an invisible
    # WORD JOINER breaks each pattern, so `https://…`, `www.…` and `a@b.c` stay plain text.
    escaped = re.sub(r"\\:(?=//)", "\\:" + WORD_JOINER, escaped)
    escaped = re.sub(r"(?i)(www)(?=\\\.)", r"\1" + WORD_JOINER, escaped)
    return escaped.replace("@", WORD_JOINER + "@")


_inert = inert  # the name other modules used first


def run_if_confirmed(key: str, apply: Callable[[Plan, Progress], Report]) -> None:
    """After Confirm: apply with a progress bar that moves as runs are answered; keep the report."""
    if not st.session_state.pop(f"{key}.go", False):
        return
    plan: Plan | None = st.session_state.get(f"{key}.plan")
    if plan is None:
        st.error("Nothing to apply: preview again.")
        return
    st.session_state[f"{key}.applied"] = plan  # the plan itself is dropped once applied
    bar = st.progress(0.0, text=f"Starting: {len(plan):,} runs…")

    def progress(done: int, total: int, result: RunResult) -> None:
        # progress text is Markdown: the run name is user-controlled
        bar.progress(
            done / max(total, 1), text=f"{done:,} / {total:,} · {inert(result.name)}: {result.outcome}"
        )

    try:
        report = apply(plan, progress)
    except RunopsError as exc:
        bar.empty()
        st.error(inert(exc))
        return
    bar.progress(1.0, text=f"Finished: {report.summary()}")
    st.session_state[f"{key}.report"] = report
    st.session_state.pop(f"{key}.plan", None)


def report_frame(report: Report, settings: Settings) -> pd.DataFrame:
    rows = [
        {
            "Run": r.name,
            "Deployment": r.deployment or "—",
            "Action": r.action,
            "Before": r.before,
            "After": r.after or "—",
            "Outcome": r.outcome,
            "Reason": r.reason,
            "New time": local_time(r.new_time) if r.new_time else "",
            "Link": settings.run_url(r.run_id),
        }
        for r in report.results
    ]
    return pd.DataFrame(
        rows,
        columns=["Run", "Deployment", "Action", "Before", "After", "Outcome", "Reason", "New time", "Link"],
    )


def failed_again(key: str) -> Plan | None:
    """The last applied plan narrowed to the runs that failed (None: nothing failed)."""
    report: Report | None = st.session_state.get(f"{key}.report")
    applied: Plan | None = st.session_state.get(f"{key}.applied")
    if report is None or applied is None or not report.failed_ids:
        return None
    return only(applied, report.failed_ids)


def show_report(
    key: str,
    settings: Settings,
    retry_label: str | None = None,
    on_retry: Callable[[], None] | None = None,
) -> Report | None:
    """The per-run result with totals; with `retry_label` ("… ({n})") and `on_retry`, a button
    to apply the same plan again to the failed runs only."""
    report: Report | None = st.session_state.get(f"{key}.report")
    if report is None:
        return None
    totals = report.totals
    st.subheader("Result")
    a, b, c, d = st.columns(4)
    a.metric("Done", f"{totals['done']:,}")
    b.metric("Skipped", f"{totals['skipped']:,}")
    c.metric("Failed", f"{totals['failed']:,}")
    d.metric("Took", format_duration(report.duration_s))
    message = report.summary() + (f" · audit #{report.audit_id}" if report.audit_id else "")
    (st.error if totals[FAILED] else st.success)(message)
    st.dataframe(
        report_frame(report, settings), hide_index=True, column_config=link_config(), width="stretch"
    )
    if retry_label and on_retry and report.failed_ids and st.session_state.get(f"{key}.applied"):
        st.button(
            retry_label.format(n=f"{len(report.failed_ids):,}"),
            icon=":material/replay:",
            on_click=on_retry,
            key=f"{key}.retry",
        )
    return report
