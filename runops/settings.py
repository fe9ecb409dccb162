"""Connection settings from the environment (or values handed in by a page), as plain data."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CLOUD_API = re.compile(
    r"^https://api\.prefect\.(cloud|dev)/api/accounts/(?P<account>[^/]+)/workspaces/(?P<workspace>[^/]+)/?$"
)


def derive_ui_url(api_url: str | None) -> str | None:
    """The Prefect UI that belongs to an API URL, as Prefect itself derives it."""
    if not api_url:
        return None
    match = CLOUD_API.match(api_url)
    if match:
        return (
            f"https://app.prefect.{match.group(1)}/account/{match.group('account')}"
            f"/workspace/{match.group('workspace')}"
        )
    return re.sub(r"/api/?$", "", api_url.rstrip("/"))


@dataclass(frozen=True)
class Settings:
    """Where the Prefect API is and how to authenticate; never rendered as a whole."""

    api_url: str | None
    api_key: str | None = field(default=None, repr=False)
    auth_string: str | None = field(default=None, repr=False)
    ui_url: str | None = None
    home: Path = Path(".runops")
    timeout: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        api_url = (env.get("PREFECT_API_URL") or "").strip() or None
        return cls(
            api_url=api_url.rstrip("/") if api_url else None,
            api_key=env.get("PREFECT_API_KEY") or None,
            auth_string=env.get("PREFECT_API_AUTH_STRING") or None,
            ui_url=(env.get("PREFECT_UI_URL") or "").rstrip("/") or derive_ui_url(api_url),
            home=Path(env.get("RUNOPS_HOME") or ".runops"),
            timeout=float(env.get("RUNOPS_API_TIMEOUT") or 15.0),
        )

    def run_url(self, run_id: object) -> str | None:
        """Link to a flow run in the Prefect UI, when the UI is known."""
        return f"{self.ui_url}/runs/flow-run/{run_id}" if self.ui_url else None

    @property
    def auth_kind(self) -> str:
        # Prefect's client sends the auth string when both are set (PrefectClient.__init__)
        if self.auth_string:
            return "basic auth"
        if self.api_key:
            return "API key"
        return "none"


def public_url(url: str | None) -> str | None:
    """`url` without any `user:password@` part, for showing, logging and the audit log."""
    if not url:
        return url
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1", url)
