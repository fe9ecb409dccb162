"""The local Prefect server runops starts: its UI talks to its own API, whatever the port."""

from __future__ import annotations

from pathlib import Path

import httpx

from runops.dev.server import LocalPrefectServer, free_port


def test_ui_settings_name_the_servers_own_port(tmp_path: Path) -> None:
    port = free_port()
    assert port != 4200  # Prefect's default port: the case that used to work by chance
    with LocalPrefectServer(tmp_path / "server", port=port, ui=True, services=False) as server:
        response = httpx.get(f"{server.ui_url}/ui-settings", timeout=10)
        response.raise_for_status()
        assert response.json()["api_url"] == server.api_url
        assert f":{port}/" in response.json()["api_url"]
