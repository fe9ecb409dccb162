"""Retry with a real process worker: a failed run retried by runops runs again and completes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.schemas.objects import FlowRun

from runops.engine.plan import DONE
from runops.features import retry
from runops.store import Store
from tests.factories import Prefect
from tests.workers import Worker, process_worker

FINISHED = {"Completed", "Failed", "Crashed", "Cancelled"}


@pytest.fixture(scope="session")
def worker(prefect: Prefect, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    with process_worker(prefect, tmp_path_factory.mktemp("worker")) as started:
        yield started


def wait_finished(prefect: Prefect, run_id: UUID, timeout: float = 180.0) -> FlowRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = prefect.read(run_id)
        if run is not None and run.state is not None and run.state.name in FINISHED:
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f}s: {run.state.name if run else None}")


def test_a_failed_run_retried_by_runops_runs_again_and_completes(
    prefect: Prefect, worker: Worker, tmp_path: Path
) -> None:
    marker, out = tmp_path / "dependency-down", tmp_path / "out.json"
    marker.write_text("down")
    params = {"out": str(out), "marker": str(marker), "value": 42}

    async def create(client):
        deployment = await client.read_deployment_by_name(worker.deployment)
        return (await client.create_flow_run_from_deployment(deployment.id, parameters=params)).id

    run_id = prefect.harness(create)
    first = wait_finished(prefect, run_id)
    assert first.state.name == "Failed" and not out.exists()

    marker.unlink()  # the dependency is back
    plan = prefect.run(retry.plan_retry, retry.RetryRequest(deployments=(worker.deployment,)))
    assert [i.run_id for i in plan.to_change] == [run_id]
    report = prefect.run(retry.apply_retry, plan, actor="lead", store=Store(tmp_path / "s.sqlite"))
    assert [r.outcome for r in report.results] == [DONE]

    again = wait_finished(prefect, run_id)
    assert again.id == run_id and again.state.name == "Completed"
    assert again.parameters == params and again.run_count == 2
    assert json.loads(out.read_text()) == {"value": 42}  # executed again with its original parameters
    names = [s.name for s in prefect.harness(lambda c: c.read_flow_run_states(run_id))]
    assert (
        names.count("Failed") == 1
        and names[-1] == "Completed"
        and "Scheduled" in names[names.index("Failed") :]
    )
