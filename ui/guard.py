"""The access guard and the shared sidebar; every page calls `page_setup` first.

On a freshly started server Streamlit can serve `/<page>` without running `app.py`, so a
guard only in `app.py` could be skipped: each page calls this itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from runops.prefect_api.health import Health, health
from runops.settings import Settings, public_url
from ui import context
from ui.fmt import inert

# What st.login needs (streamlit/auth_util.py validate_auth_credentials), checked up front so a
# broken secrets.toml gets a message in words instead of an exception from a button callback.
SHARED_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


@st.cache_data(ttl=10, show_spinner=False)
def _cached_health(settings: Settings) -> Health:
    return health(settings)


def login_providers(auth: Mapping[str, Any]) -> list[str | None]:
    """The providers of an `[auth]` section: None is the default one (keys directly in
    `[auth]`), names are `[auth.<name>]` sub-sections."""
    named = [
        name
        for name, value in auth.items()
        if isinstance(value, Mapping) and name != "client_kwargs" and "client_id" in value
    ]
    default: list[str | None] = [None] if "client_id" in auth else []
    return default + sorted(named)


def auth_problems(auth: Mapping[str, Any]) -> list[str]:
    """What is missing from `[auth]` for st.login to work, in words (key names only, never values)."""
    problems = [f"`[auth]` has no `{key}`" for key in SHARED_KEYS if key not in auth]
    providers = login_providers(auth)
    if not providers:
        problems.append(
            "`[auth]` names no provider: give `client_id`, `client_secret` and `server_metadata_url` "
            "in `[auth]` or in an `[auth.<provider>]` section"
        )
    for provider in providers:
        section = auth if provider is None else auth[provider]
        where = "[auth]" if provider is None else f"[auth.{provider}]"
        problems += [f"`{where}` has no `{key}`" for key in PROVIDER_KEYS if key not in section]
        if provider and "_" in provider:
            problems.append(f"`{where}`: Streamlit does not allow `_` in a provider name")
    try:
        from streamlit.auth_util import is_authlib_installed

        if not is_authlib_installed():
            problems.append("Authlib is not installed: `pip install -e '.[auth]'` (streamlit[auth])")
    except ImportError:
        pass
    return problems


def logged_in() -> bool:
    try:
        return bool(st.user.get("is_logged_in"))
    except Exception:  # no user info in this context: not logged in
        return False


def _provider_label(provider: str | None) -> str:
    return "Log in" if provider is None else f"Log in with {provider.replace('-', ' ').title()}"


def login_screen(auth: Mapping[str, Any]) -> None:
    """What someone not logged in sees instead of the page: who runops is, and how to log in."""
    st.title("runops")
    st.markdown(
        "This dashboard changes flow runs on a Prefect server. **Log in to continue**: "
        "everyone who logs in can look at every page; only operators can apply changes."
    )
    problems = auth_problems(auth)
    if problems:
        st.error(
            "Login is configured in `.streamlit/secrets.toml` but cannot work yet:\n\n"
            + "\n".join(f"- {problem}" for problem in problems),
            icon=":material/lock:",
        )
        return
    for provider in login_providers(auth):
        # on_click: st.login runs as a callback, so one click starts the redirect
        st.button(
            _provider_label(provider),
            key=f"login-{provider or 'default'}",
            type="primary",
            icon=":material/login:",
            on_click=st.login,
            args=() if provider is None else (provider,),
        )


def guard() -> None:
    """Stop the page for anyone who may not see it: with `[auth]` configured, everyone not
    logged in gets the login screen and nothing else (no sidebar, no API call, no data)."""
    if not context.auth_configured() or logged_in():
        return
    login_screen(context.auth_section())
    st.stop()


def sidebar(settings: Settings) -> Health:
    result = _cached_health(settings)
    with st.sidebar:
        st.caption("Prefect API")
        st.code(public_url(settings.api_url) or "not set", language=None)
        if result.ok:
            st.success(f"Healthy · Prefect {result.server_version}", icon=":material/check_circle:")
        else:
            st.error(result.message, icon=":material/error:")
        st.caption(f"API credentials: {result.auth}")
        who = context.actor()
        # the e-mail comes from the identity provider: shown as text, not Markdown
        if context.auth_configured():
            st.caption(f"Signed in as {inert(who)}")
            st.button("Log out", key="logout", on_click=st.logout)
        else:
            st.caption(f"No login configured: single local user {inert(who)}")
        refusal = context.refusal()
        if refusal:
            st.warning(inert(refusal), icon=":material/lock:")
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
    # every time on a page is in this one zone, named here once (tables and captions do not repeat it)
    st.caption(f"Times in {context.timezone().key}, your browser's time zone.", help=None)
    if needs_api and not result.ok:
        st.error(f"Cannot use the Prefect API. {result.message}", icon=":material/cloud_off:")
        st.stop()
    return settings
