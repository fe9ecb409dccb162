"""A real Prefect process worker for tests: a work pool, a deployment of a tiny local flow, `prefect worker start`."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists

from runops.dev.server import spawn_group, stop_process_group
from tests.factories import Prefect, unique

FLOWS = Path(__file__).resolve().parent / "flows"


@dataclass(frozen=True)
class Worker:
    pool: str
    deployment: str  # "flow/deployment"
    log: Path


def _deploy(prefect: Prefect, pool: str) -> str:
    from prefect import flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def create_pool(client: PrefectClient) -> None:
        try:
            await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            pass

    prefect.harness(create_pool)
    name = unique("tiny")
    # a local directory as the source: the process worker runs the file where it is, no image.
    # `_sync=True` because Prefect picks the coroutine form whenever an event loop or run context
    # is current in this thread, which an earlier test in the same process may leave behind.
    with temporary_settings(updates={PREFECT_API_URL: prefect.settings.api_url}):
        source = flow.from_source(str(FLOWS), "tiny_retry.py:tiny", _sync=True)
        source.deploy(
            name=name, work_pool_name=pool, print_next_steps=False, build=False, push=False, _sync=True
        )
    return f"tiny-retry/{name}"


def _wait_online(prefect: Prefect, pool: str, proc, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited ({proc.returncode}); see {log}")
        workers = prefect.harness(lambda c: c.read_workers_for_work_pool(pool))
        if any(w.status.value == "ONLINE" for w in workers):
            return
        time.sleep(1)
    raise RuntimeError(f"no worker came online in {timeout:.0f}s; see {log}")


@contextmanager
def process_worker(prefect: Prefect, home: Path) -> Iterator[Worker]:
    """`prefect worker start --type process` on a fresh pool, polling every second."""
    pool = unique("proc-pool")
    deployment = _deploy(prefect, pool)
    log = home / f"worker-{pool}.log"
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect.settings.api_url or "",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
    }
    prefect_cli = str(Path(sys.executable).parent / "prefect")
    proc = spawn_group(
        [prefect_cli, "worker", "start", "--pool", pool, "--type", "process", "--name", pool], env, log
    )
    try:
        _wait_online(prefect, pool, proc, log)
        yield Worker(pool, deployment, log)
    finally:
        stop_process_group(proc)
