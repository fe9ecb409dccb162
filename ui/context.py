"""Per-session facts for pages: settings, who is acting, the viewer's time zone, the audit log."""

from __future__ import annotations

import getpass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from runops.audit import AuditLog, default_path
from runops.settings import Settings


def settings() -> Settings:
    """Read fresh each run: cheap, and a changed environment is picked up without a restart."""
    return Settings.from_env()


def actor() -> str:
    """Who is clicking: the OIDC e-mail when logged in, else the local OS user."""
    try:
        if getattr(st.user, "is_logged_in", False):
            return str(st.user.get("email") or st.user.get("name") or "logged-in user")
    except Exception:  # st.user is unavailable without auth configured in some versions
        pass
    return f"local:{getpass.getuser()}"


def audit_log() -> AuditLog:
    return AuditLog(default_path(settings().home))


def timezone() -> ZoneInfo:
    name = None
    try:
        name = st.context.timezone
    except Exception:
        name = None
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")
