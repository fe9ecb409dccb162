"""Session fixtures: one real Prefect server (temp SQLite, free port) shared by every test."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before prefect is imported anywhere: the test process gets its own Prefect home and must never
# fall back to an ephemeral in-process server.
_HOME = Path(tempfile.mkdtemp(prefix="runops-tests-"))
os.environ["PREFECT_HOME"] = str(_HOME / "prefect-home")
os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["RUNOPS_HOME"] = str(_HOME / "runops-home")
for _name in ("RUNOPS_READ_ONLY", "RUNOPS_REQUIRE_REASON"):
    os.environ.pop(_name, None)
for _name in ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING", "PREFECT_UI_URL"):
    os.environ.pop(_name, None)

import pytest  # noqa: E402

from runops.dev.server import LocalPrefectServer  # noqa: E402
from runops.settings import Settings  # noqa: E402
from tests.factories import Prefect  # noqa: E402
from tests.infra.backends import session_server  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # the session's server database, logs and audit files: kept only when something failed
    if exitstatus == 0:
        shutil.rmtree(_HOME, ignore_errors=True)
    else:
        print(f"\nrunops test files (server log, database) kept in {_HOME}")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[LocalPrefectServer]:
    # RUNOPS_TEST_BACKEND=sqlite (default) | postgres | scaled: see tests/infra/backends.py.
    with session_server(_HOME / "server") as server:
        os.environ["PREFECT_API_URL"] = server.api_url
        os.environ["PREFECT_UI_URL"] = server.ui_url
        yield server


@pytest.fixture(scope="session")
def settings(prefect_server: LocalPrefectServer) -> Settings:
    return Settings(api_url=prefect_server.api_url, ui_url=prefect_server.ui_url, home=_HOME / "runops-home")


@pytest.fixture(scope="session")
def prefect(prefect_server: LocalPrefectServer, settings: Settings) -> Prefect:
    """Factories and readers against the real test server."""
    return Prefect(settings, str(prefect_server.database_url))


@pytest.fixture
def tmp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUNOPS_HOME", str(tmp_path))
    return tmp_path
