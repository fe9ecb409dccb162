"""Helpers for login tests: a real local OpenID provider (oidc-provider-mock) and a dashboard
started with its own `[auth]` secrets file, never the repository's `.streamlit/secrets.toml`."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from runops.dev.dashboard import start_dashboard
from runops.dev.server import free_port, stop_process_group
from ui.operation import inert


@dataclass
class OidcProvider:
    """`python -m oidc_provider_mock` on a free port. Any client id/secret is accepted; the login
    form asks for a `sub`, and a new user's `email` claim is that `sub`."""

    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"


@contextmanager
def oidc_provider(log_path: Path) -> Iterator[OidcProvider]:
    port = free_port()
    log = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    provider = OidcProvider(port, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"oidc-provider-mock exited: {log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                if httpx.get(provider.metadata_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("oidc-provider-mock did not answer within 30s")
            time.sleep(0.2)
        yield provider
    finally:
        stop_process_group(proc)


def write_secrets(path: Path, dashboard_port: int, provider: OidcProvider | None) -> Path:
    """A secrets.toml with an `[auth]` section for `provider` (or a provider nobody runs)."""
    metadata = provider.metadata_url if provider else "http://127.0.0.1:9/.well-known/openid-configuration"
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{dashboard_port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "runops"\n'
        'client_secret = "runops-test-client-secret"\n'
        f'server_metadata_url = "{metadata}"\n'
    )
    return path


@dataclass
class AuthDashboard:
    url: str
    log: Path
    proc: subprocess.Popen


@contextmanager
def auth_dashboard(
    tmp: Path, env_overrides: dict[str, str], provider: OidcProvider | None
) -> Iterator[AuthDashboard]:
    """`streamlit run app.py` with `[auth]` from a temp secrets file (`--secrets.files`)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    secrets_file = write_secrets(tmp / "secrets.toml", port, provider)
    env = dict(os.environ)
    env.update(env_overrides)
    log = tmp / "streamlit.log"
    proc, url = start_dashboard(
        env, port=port, log_path=log, extra_args=["--secrets.files", str(secrets_file)]
    )
    try:
        yield AuthDashboard(url, log, proc)
    finally:
        stop_process_group(proc)


def login(page: Page, dashboard: str, email: str) -> None:
    """Log in through the provider's form as `email` and land back on the dashboard."""
    page.goto(dashboard)
    page.get_by_role("button", name="Log in").click()
    page.get_by_placeholder("sub").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{dashboard}/**")
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {as_shown(email)}")


def as_shown(text: str) -> str:
    """How `inert(text)` reads in the browser: the escapes vanish, the invisible word joiners
    that stop autolinks stay in the DOM text."""
    return re.sub(r"\\(.)", r"\1", inert(text))
