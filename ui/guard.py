"""The access guard and the shared sidebar; every page calls `page_setup` first.

On a freshly started server Streamlit can serve `/<page>` without running `app.py`, so a
guard only in `app.py` could be skipped: each page calls this itself.
"""

from __future__ import annotations

import streamlit as st

from runops.connection import Health, health
from runops.settings import Settings
from ui import context


@st.cache_data(ttl=10, show_spinner=False)
def _cached_health(settings: Settings) -> Health:
    return health(settings)


def guard() -> None:
    """Stop the page for anyone who may not see it (login comes with the access issue)."""
    return None


def sidebar(settings: Settings) -> Health:
    result = _cached_health(settings)
    with st.sidebar:
        st.caption("Prefect API")
        st.code(settings.api_url or "not set", language=None)
        if result.ok:
            st.success(f"Healthy · Prefect {result.server_version}", icon=":material/check_circle:")
        else:
            st.error(result.message, icon=":material/error:")
        st.caption(f"API credentials: {result.auth}")
        who = context.actor()
        if context.auth_configured():
            st.caption(f"Signed in as `{who}`")
            st.button("Log out", key="logout", on_click=st.logout)
        else:
            st.caption(f"No login configured: single local user `{who}`")
        refusal = context.refusal()
        if refusal:
            st.warning(refusal, icon=":material/lock:")
        if st.button("Re-check connection", key="recheck-health"):
            _cached_health.clear()
            st.rerun()
    return result


def page_setup(title: str, icon: str | None = None, needs_api: bool = True) -> Settings:
    """Guard, sidebar and title; stops the page cleanly (no traceback) when the API is down."""
    guard()
    settings = context.settings()
    result = sidebar(settings)
    st.title(title)
    if needs_api and not result.ok:
        st.error(f"Cannot use the Prefect API. {result.message}", icon=":material/cloud_off:")
        st.stop()
    return settings
