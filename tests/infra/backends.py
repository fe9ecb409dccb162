"""The session server of the test suite on the backend `RUNOPS_TEST_BACKEND` names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runops.dev.server import LocalPrefectServer
from tests.infra.postgres import postgres_cluster
from tests.infra.scaled import scaled_prefect

BACKENDS = ("sqlite", "postgres", "scaled")
# Tests backdate Cancelling states by minutes; Prefect's services would resolve runs Cancelling
# longer than this on their own loop, racing the stuck-run tests' reads.
TEST_SETTINGS = {"PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_CANCELLING_TIMEOUT_SECONDS": "86400"}


def backend_name() -> str:
    name = os.environ.get("RUNOPS_TEST_BACKEND", "").strip().lower() or "sqlite"
    if name not in BACKENDS:
        raise ValueError(f"RUNOPS_TEST_BACKEND={name!r} is not one of {', '.join(BACKENDS)}")
    return name


@contextmanager
def session_server(home: Path, backend: str | None = None) -> Iterator[LocalPrefectServer]:
    """A running Prefect server: one process on SQLite or PostgreSQL, or the scaled-out setup
    (two API workers on PostgreSQL + Redis, services in their own process)."""
    backend = backend or backend_name()
    if backend == "scaled":
        with scaled_prefect(workers=2, home=home, extra_env=TEST_SETTINGS) as scaled:
            yield scaled.server
        return
    if backend == "postgres":
        with (
            postgres_cluster() as database_url,
            LocalPrefectServer(home, ui=False, database_url=database_url, extra_env=TEST_SETTINGS) as server,
        ):
            yield server
        return
    with LocalPrefectServer(home, ui=False, extra_env=TEST_SETTINGS) as server:
        yield server
