"""Runs carried from one page to another's preview (History's timeline → retry, cancel, reschedule)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from ui.state import operation_state, widget_key

# the page a carry lands on, by its key (ui/state's `<page>.` prefix)
TARGETS = {"retry": "pages/retry_failed.py", "cancel": "pages/bulk_cancel.py", "late": "pages/late_runs.py"}


@dataclass(frozen=True)
class Carried:
    """Runs a person chose elsewhere: the target page previews exactly these (its rules still apply)."""

    run_ids: tuple[str, ...]
    words: str  # where they were chosen, for the banner: "on History's timeline"

    def __len__(self) -> int:
        return len(self.run_ids)


def _key(page: str) -> str:
    return widget_key(page, "carried")


def carry(page: str, run_ids: Sequence[str], words: str) -> None:
    """Hand these runs to `page` (a key of TARGETS); it opens with them chosen and no old preview."""
    st.session_state[_key(page)] = Carried(tuple(run_ids), words)
    operation_state(page).stale()


def go(page: str, run_ids: Sequence[str], words: str) -> None:
    """Carry the runs and open the page (a button's action: `st.switch_page` reruns the app there)."""
    carry(page, run_ids, words)
    st.switch_page(TARGETS[page])


def carried(page: str) -> Carried | None:
    found = st.session_state.get(_key(page))
    return found if isinstance(found, Carried) and found.run_ids else None


def clear(page: str) -> None:
    st.session_state.pop(_key(page), None)
    operation_state(page).stale()


def banner(page: str, rule: str) -> Carried | None:
    """Say which runs were carried here and offer Clear; `rule` says which of them the page acts on."""
    chosen = carried(page)
    if chosen is None:
        return None
    with st.container(border=True):
        text, button = st.columns([5, 1], vertical_alignment="center")
        count = len(chosen)
        text.info(
            f"**{count:,} run{'s' if count != 1 else ''} chosen {chosen.words}.** Preview plans exactly "
            f"these ({rule}); the filters below are set aside until you clear them.",
            icon=":material/timeline:",
        )
        button.button("Clear", key=widget_key(page, "carried-clear"), on_click=clear, args=(page,))
    return chosen
