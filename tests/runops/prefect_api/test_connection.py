"""Health check and error translation against the real test server and a dead port."""

from __future__ import annotations

import pytest

from runops.dev.server import free_port
from runops.errors import ApiUnreachable, ConfigError
from runops.prefect_api.client import call
from runops.prefect_api.health import check_health, health
from runops.settings import Settings, derive_ui_url


def test_health_ok(settings: Settings) -> None:
    result = health(settings)
    assert result.ok, result.message
    assert result.server_version and result.server_version.startswith("3.")


def test_unreachable_is_words() -> None:
    result = health(Settings(api_url=f"http://127.0.0.1:{free_port()}/api"))
    assert not result.ok
    assert "Cannot reach the Prefect API" in result.message


def test_missing_url_is_words() -> None:
    result = health(Settings(api_url=None))
    assert not result.ok and "PREFECT_API_URL is not set" in result.message
    with pytest.raises(ConfigError):
        call(Settings(api_url=None), check_health)


def test_not_a_prefect_api(prefect_server) -> None:
    result = health(Settings(api_url=prefect_server.ui_url))  # missing /api
    assert not result.ok
    assert "does not look like a Prefect 3 API" in result.message


def test_call_translates_errors() -> None:
    async def count(client):
        return await client.count_flow_runs()

    with pytest.raises(ApiUnreachable):
        call(Settings(api_url=f"http://127.0.0.1:{free_port()}/api"), count)


def test_ui_url_derivation() -> None:
    assert derive_ui_url("http://127.0.0.1:4200/api") == "http://127.0.0.1:4200"
    assert (
        derive_ui_url("https://api.prefect.cloud/api/accounts/a1/workspaces/w2")
        == "https://app.prefect.cloud/account/a1/workspace/w2"
    )


def test_settings_never_render_secrets() -> None:
    settings = Settings.from_env({"PREFECT_API_URL": "http://x/api", "PREFECT_API_KEY": "pnu_secret"})
    assert "pnu_secret" not in repr(settings)
    assert settings.auth_kind == "API key"
