"""The store's tests run on both databases it supports: SQLite (a file) and PostgreSQL (a throwaway cluster)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runops.store import Store
from tests.infra.postgres import pg_bin, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    try:
        pg_bin()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    with postgres_server() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return Store(tmp_path / "runops.sqlite")
    cluster = request.getfixturevalue("postgres")
    return Store(cluster.create_database(f"store_{uuid.uuid4().hex[:8]}"))  # type: ignore[attr-defined]
