"""AppTest of the access guard: the login screen with `[auth]`, and the signed-in sidebar."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.guard import auth_problems, login_providers
from ui.operation import inert

ROOT = Path(__file__).resolve().parents[2]

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-long-random-cookie-secret-for-tests",
    "client_id": "runops",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration",
}


def app(auth: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    if auth is not None:
        at.secrets["auth"] = auth
    if user is not None:
        at.user = user
    return at


def test_providers_default_and_named() -> None:
    assert login_providers(AUTH) == [None]
    named = {
        "redirect_uri": "x",
        "cookie_secret": "y",
        "okta": {"client_id": "a", "client_secret": "b", "server_metadata_url": "c"},
        "google": {"client_id": "a", "client_secret": "b", "server_metadata_url": "c"},
        "client_kwargs": {"prompt": "login"},
    }
    assert login_providers(named) == ["google", "okta"]
    assert auth_problems(named) == []


def test_problems_name_keys_never_values() -> None:
    broken = {"redirect_uri": "x", "client_id": "a", "client_secret": "s3cr3t-value"}
    problems = auth_problems(broken)
    assert "`[auth]` has no `cookie_secret`" in problems
    assert "`[auth]` has no `server_metadata_url`" in problems
    assert not any("s3cr3t-value" in p for p in problems)
    assert auth_problems({"redirect_uri": "x", "cookie_secret": "y"})[0].startswith("`[auth]` names no")


def test_not_logged_in_sees_only_the_login_screen(tmp_home) -> None:
    at = app(AUTH).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["runops"]
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.sidebar.caption and not at.metric and not at.dataframe

    at.switch_page("pages/activity.py").run()
    assert [t.value for t in at.title] == ["runops"]
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.dataframe and not at.info


def test_named_providers_get_one_button_each(tmp_home) -> None:
    auth = {
        "redirect_uri": AUTH["redirect_uri"],
        "cookie_secret": AUTH["cookie_secret"],
        "google": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
        "okta": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
    }
    at = app(auth).run()
    assert [b.label for b in at.button] == ["Log in with Google", "Log in with Okta"]


def test_misconfigured_auth_says_what_is_missing(tmp_home) -> None:
    at = app({k: v for k, v in AUTH.items() if k != "cookie_secret"}).run()
    assert not at.exception
    assert not at.button
    assert "`[auth]` has no `cookie_secret`" in at.error[0].value
    assert AUTH["client_secret"] not in at.error[0].value


def test_operator_signed_in(prefect_server, tmp_home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNOPS_OPERATORS", "ops@example.com")
    at = app(AUTH, {"is_logged_in": True, "email": "ops@example.com"}).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"
    captions = [c.value for c in at.sidebar.caption]
    assert f"Signed in as {inert('ops@example.com')}" in captions
    assert "Log out" in [b.label for b in at.sidebar.button]
    assert not at.sidebar.warning


def test_non_operator_sees_pages_and_the_refusal(
    prefect_server, tmp_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNOPS_OPERATORS", "ops@example.com")
    at = app(AUTH, {"is_logged_in": True, "email": "dev@example.com"}).run()
    assert not at.exception, at.exception
    at.switch_page("pages/activity.py").run()
    assert at.title[0].value == "Activity"
    assert "not an operator" in at.sidebar.warning[0].value


def test_no_auth_is_a_local_single_user(prefect_server, tmp_home) -> None:
    at = app().run()
    assert at.title[0].value == "Overview"
    assert any("No login configured" in c.value for c in at.sidebar.caption)


def test_sidebar_hides_credentials_in_the_api_url(
    prefect_server, tmp_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = prefect_server.api_url.replace("http://", "http://admin:url-secret@")
    monkeypatch.setenv("PREFECT_API_URL", url)
    at = app().run()
    shown = [c.value for c in at.sidebar.code]
    assert shown == [prefect_server.api_url]


def test_inert_defuses_markup_and_autolinks() -> None:
    text = inert("<img src=x onerror=alert(1)> **x** [link](javascript:alert(1)) https://e.x www.e.x a@b.c")
    assert "\\<img" in text and "\\*\\*x\\*\\*" in text and "\\]\\(" in text
    for raw in ("**x**", "](", "https://", "www.", "a@b"):
        assert raw not in text
    # only escapes and invisible word joiners were added: the words read the same
    assert text.replace("\\", "").replace("\u2060", "") == (
        "<img src=x onerror=alert(1)> **x** [link](javascript:alert(1)) https://e.x www.e.x a@b.c"
    )
