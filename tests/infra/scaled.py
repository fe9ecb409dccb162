"""Prefect's scale-out setup for tests and benchmarks: N API workers on PostgreSQL + Redis, services apart."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from runops.dev.server import LocalPrefectServer, spawn_group, stop_process_group
from tests.infra.postgres import PostgresCluster, postgres_server
from tests.infra.redis import RedisServer, redis_server


def redis_settings(redis: RedisServer) -> dict[str, str]:
    """The settings `prefect server start --workers N` checks for (prefect/cli/_server_utils.py)."""
    return {
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_HOST": redis.host,
        "PREFECT_REDIS_MESSAGING_PORT": str(redis.port),
        "PREFECT_REDIS_MESSAGING_DB": "0",
        # Background tasks the API hands off (docket) go through Redis too, as Prefect's scaling guide says.
        "PREFECT_SERVER_DOCKET_URL": f"redis://{redis.host}:{redis.port}/1",
    }


# The API workers must not race each other setting up a fresh database: `upgrade_database` migrates
# and registers the block types once, before they start.
WORKER_SETTINGS = {
    "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
}

_REGISTER_BLOCKS = """
import asyncio
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration

async def main():
    session = await provide_database_interface().session()
    async with session:
        await run_block_auto_registration(session=session)

asyncio.run(main())
"""


def _run_prefect(server: LocalPrefectServer, args: list[str], what: str, timeout: float) -> None:
    result = subprocess.run(
        [sys.executable, *args],
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")


def upgrade_database(server: LocalPrefectServer, timeout: float = 300.0) -> None:
    """Migrate and register block types once, before any API worker starts.

    Two workers setting up a fresh database at once crash on duplicate keys (migrations, and
    block types: `uq_block_type__slug`), and a crashed worker is restarted, slowly.
    """
    _run_prefect(
        server,
        ["-m", "prefect", "server", "database", "upgrade", "-y"],
        "prefect server database upgrade",
        timeout,
    )
    _run_prefect(server, ["-c", _REGISTER_BLOCKS], "block type registration", timeout)


@dataclass
class ScaledPrefect:
    server: LocalPrefectServer
    services: subprocess.Popen
    redis: RedisServer
    postgres: PostgresCluster

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def ui_url(self) -> str:
        return self.server.ui_url

    @property
    def database_url(self) -> str:
        return str(self.server.database_url)

    def process_groups(self) -> list[int]:
        """Process groups this setup started: API, services, Redis and PostgreSQL (its postmaster's)."""
        groups = [self.services.pid, self.redis.proc.pid]
        if self.server.proc is not None:
            groups.append(self.server.proc.pid)
        postmaster = self.postgres.postmaster_pid()
        if postmaster is not None:
            groups.append(postmaster)
        return groups


@contextmanager
def services_process(server: LocalPrefectServer, log_path: Path) -> Iterator[subprocess.Popen]:
    """`prefect server services start` (scheduler, late runs, event persister, …) in its own group."""
    proc = spawn_group(
        [sys.executable, "-m", "prefect", "server", "services", "start"], server.environment(), log_path
    )
    try:
        # Nothing to poll for health: make sure it did not die at once (bad settings, import error).
        time.sleep(1.0)
        if proc.poll() is not None:
            raise RuntimeError(
                f"prefect server services exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}"
            )
        yield proc
    finally:
        stop_process_group(proc)


@contextmanager
def scaled_prefect(
    workers: int = 2,
    ui: bool = False,
    timeout: float = 180.0,
    home: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[ScaledPrefect]:
    """PostgreSQL + Redis + `prefect server start --workers N --no-services` + a services process."""
    own_home = home is None
    home = Path(tempfile.mkdtemp(prefix="runops-scaled-")) if home is None else Path(home)
    home.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as stack:
            postgres = stack.enter_context(postgres_server())
            database_url = postgres.create_database()
            redis = stack.enter_context(redis_server())
            server = LocalPrefectServer(
                home / "prefect",
                database_url=database_url,
                ui=ui,
                services=False,
                workers=workers,
                extra_env={**redis_settings(redis), **WORKER_SETTINGS, **(extra_env or {})},
            )
            upgrade_database(server)
            services = stack.enter_context(services_process(server, home / "services.log"))
            server.start(timeout=timeout)
            stack.callback(server.stop)
            yield ScaledPrefect(server=server, services=services, redis=redis, postgres=postgres)
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)
