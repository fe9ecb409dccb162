"""The scaled-out Prefect (2 API workers, PostgreSQL + Redis, services apart) starts, works, stops clean."""

from __future__ import annotations

import httpx

from tests.infra.procs import alive, processes_in_groups
from tests.infra.scaled import scaled_prefect
from tests.infra_tests.conftest import needs_backend

pytestmark = needs_backend("scaled")


def test_scaled_prefect_runs_two_api_workers_and_stops_every_process() -> None:
    with scaled_prefect(workers=2) as scaled:
        assert scaled.database_url.startswith("postgresql+asyncpg://")
        assert httpx.get(f"{scaled.api_url}/health", timeout=30).json() is True
        # A write through the API lands in PostgreSQL (the workers share it).
        created = httpx.post(f"{scaled.api_url}/flows/", json={"name": "infra-check"}, timeout=30)
        assert created.status_code in (200, 201), created.text
        flow_id = created.json()["id"]
        for _ in range(4):
            assert httpx.get(f"{scaled.api_url}/flows/{flow_id}", timeout=30).json()["name"] == "infra-check"
        api_group = scaled.server.proc.pid
        # `prefect server start` + 2 uvicorn worker processes (and maybe a multiprocessing helper).
        api_processes = processes_in_groups([api_group])
        assert len(api_processes) >= 3, api_processes
        assert processes_in_groups([scaled.services.pid]), "the services process is running"
        assert scaled.redis.ping()
        groups = scaled.process_groups()
        assert len(groups) == 4
        every_process = [*processes_in_groups(groups), *scaled.postgres.processes()]
    assert processes_in_groups(groups) == {}
    assert alive(every_process) == []
    assert not scaled.redis.ping()
