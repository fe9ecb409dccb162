"""What a mutating page keeps between reruns: one typed object per page, not loose session keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from runops.engine.plan import Plan


@dataclass
class OperationState:
    """One mutating page's state (its widgets keep their own keys, `<page>.<name>`)."""

    preview: Plan | None = None  # the plan as previewed
    plan: Plan | None = None  # what the dialog shows and the job applies: the preview plus consents
    dialog: bool = False  # the confirmation dialog is open
    go: bool = False  # set by the dialog's Confirm (an on_click callback, so AppTest can drive it)
    mistyped: bool = False  # Confirm was clicked with a wrong count typed
    job: str | None = None  # the job Confirm started (also in the URL: `?job=<id>`)
    found: Any = None  # what a kind reads before it can plan (e.g. the stuck runs found)

    def stale(self) -> None:
        """A changed input: the preview is out of date and has to be made again."""
        self.preview = self.plan = self.found = None
        self.dialog = False


def operation_state(page: str) -> OperationState:
    """The page's state object, made on first use; it lives as long as the browser session."""
    name = f"{page}.state"
    if name not in st.session_state:
        st.session_state[name] = OperationState()
    state: OperationState = st.session_state[name]
    return state


def widget_key(page: str, name: str) -> str:
    return f"{page}.{name}"
