"""Per-session facts for pages: settings, who is acting, what they may do, time zone, audit log."""

from __future__ import annotations

import getpass
import os
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from runops.access import AccessPolicy
from runops.settings import Settings
from runops.store import Store, default_store


def _secrets_section(name: str) -> dict[str, Any]:
    try:
        section = st.secrets.get(name)
    except Exception:  # no secrets.toml at all
        return {}
    return dict(section) if section else {}


def apply_secrets() -> None:
    """Copy `[runops]` secrets into the environment the service layer reads, unless already set.

    The access rules live in the service layer (not Streamlit): it reads RUNOPS_OPERATORS,
    RUNOPS_READ_ONLY and RUNOPS_REQUIRE_REASON, so values given in secrets.toml must reach it the
    same way.
    """
    runops = _secrets_section("runops")
    operators = runops.get("operators")
    if operators and "RUNOPS_OPERATORS" not in os.environ:
        os.environ["RUNOPS_OPERATORS"] = (
            ",".join(operators) if isinstance(operators, list) else str(operators)
        )
    if runops.get("read_only") and "RUNOPS_READ_ONLY" not in os.environ:
        os.environ["RUNOPS_READ_ONLY"] = "1"
    if runops.get("require_reason") and "RUNOPS_REQUIRE_REASON" not in os.environ:
        os.environ["RUNOPS_REQUIRE_REASON"] = "1"


def settings() -> Settings:
    """Read fresh each run: cheap, and a changed environment is picked up without a restart."""
    apply_secrets()
    return Settings.from_env()


def auth_configured() -> bool:
    return bool(_secrets_section("auth"))


def auth_section() -> dict[str, Any]:
    """The `[auth]` secrets (st.login's settings); for checking them, never for showing values."""
    return _secrets_section("auth")


def actor() -> str:
    """Who is clicking: the OIDC e-mail when logged in, else the local OS user."""
    if auth_configured():
        try:
            if st.user.is_logged_in:
                return str(st.user.get("email") or st.user.get("sub") or "logged-in user")
        except Exception:
            pass
        return "anonymous"
    return f"local:{getpass.getuser()}"


def policy() -> AccessPolicy:
    apply_secrets()
    return AccessPolicy.from_env()


def refusal() -> str | None:
    """Why the current user may not change runs (None: they may). Pages disable apply with it;
    the service layer refuses on its own anyway."""
    return policy().refusal(actor())


def store() -> Store:
    """Jobs and the audit log (RUNOPS_DATABASE_URL, else SQLite under RUNOPS_HOME)."""
    return default_store(settings().home)


def timezone() -> ZoneInfo:
    try:
        name = st.context.timezone
    except Exception:
        name = None
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")
