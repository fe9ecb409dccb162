"""The session server on the backend RUNOPS_TEST_BACKEND chose: healthy, right database, services alive."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.states import Scheduled

from runops.dev.backdate import RunTimes
from runops.dev.server import LocalPrefectServer
from tests.factories import Prefect, ago
from tests.infra.backends import backend_name

DIALECTS = {
    "sqlite": "sqlite+aiosqlite://",
    "postgres": "postgresql+asyncpg://",
    "scaled": "postgresql+asyncpg://",
}


def test_server_is_healthy_on_the_chosen_database(
    prefect_server: LocalPrefectServer, prefect: Prefect
) -> None:
    assert httpx.get(f"{prefect_server.api_url}/health", timeout=30).json() is True
    assert str(prefect_server.database_url).startswith(DIALECTS[backend_name()])
    assert prefect.database_url == str(prefect_server.database_url)
    assert prefect_server.workers == (2 if backend_name() == "scaled" else 1)


def test_backdate_writes_history_into_the_servers_database(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    (run,) = prefect.runs(deployment, [Scheduled(scheduled_time=ago(days=3))])
    start, end = ago(days=2, minutes=30), ago(days=2)
    prefect.backdate([RunTimes(run.id, expected_start=ago(days=2, minutes=31), start=start, end=end)])
    stored = prefect.read(run.id)
    assert stored is not None
    assert abs(stored.start_time - start) < timedelta(seconds=1)
    assert abs(stored.end_time - end) < timedelta(seconds=1)
    assert abs(stored.total_run_time - (end - start)) < timedelta(seconds=1)
    assert abs(stored.expected_start_time - ago(days=2, minutes=31)) < timedelta(seconds=5)


def test_background_services_mark_late_runs_and_persist_events(prefect: Prefect) -> None:
    """The late-runs service and the event pipeline run (in the scaled setup: in their own process,
    fed through Redis)."""
    deployment = prefect.deployment()
    (run,) = prefect.runs(deployment, [Scheduled(scheduled_time=ago(minutes=5))])

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        stored = prefect.read(run.id)
        if stored is not None and stored.state_name == "Late":
            break
        time.sleep(1)
    assert stored is not None and stored.state_name == "Late", "the late-runs service did not mark the run"

    async def late_events(client: PrefectClient) -> list[str]:
        response = await client.request(
            "POST",
            "/events/filter",
            json={"filter": {"resource": {"id": [f"prefect.flow-run.{run.id}"]}}, "limit": 50},
        )
        return [event["event"] for event in response.json()["events"]]

    while time.monotonic() < deadline + 30:
        events = prefect.run(late_events)
        if "prefect.flow-run.Late" in events:
            break
        time.sleep(1)
    assert "prefect.flow-run.Late" in events
