"""A throwaway PostgreSQL cluster (Debian's binaries) on a free port in a temp dir."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runops.dev.server import free_port

PG_VERSION = "15"
OS_USER = "postgres"
DB_USER = "postgres"


def pg_bin() -> Path:
    """The directory with initdb/pg_ctl: $RUNOPS_PG_BIN, else Debian's PostgreSQL 15 (or newest found)."""
    if os.environ.get("RUNOPS_PG_BIN"):
        return Path(os.environ["RUNOPS_PG_BIN"])
    preferred = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
    if (preferred / "pg_ctl").exists():
        return preferred
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    raise RuntimeError(
        "PostgreSQL server binaries not found: run `make services` (apt-get install postgresql)"
    )


def _as_owner(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI and the dev machines are root, so switch to the
    # `postgres` OS user that Debian's package creates. A normal user runs the binaries itself.
    if os.geteuid() == 0:
        return ["runuser", "-u", OS_USER, "--", *command]
    return command


def _owner_ids() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(OS_USER)
    return entry.pw_uid, entry.pw_gid


def _run(command: list[str], timeout: float = 120.0) -> str:
    result = subprocess.run(
        _as_owner(command), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout


@dataclass
class PostgresCluster:
    """One running cluster; `url(db)` gives SQLAlchemy asyncpg URLs, `create_database()` a fresh one."""

    root: Path
    port: int
    bin: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def postmaster_pid(self) -> int | None:
        """The server's pid from postmaster.pid (also its process group: pg_ctl starts it with setsid)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def create_database(self, name: str | None = None) -> str:
        name = name or f"prefect_{uuid.uuid4().hex[:8]}"
        _run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, name])
        return self.url(name)

    def start(self) -> None:
        ids = _owner_ids()
        if ids:
            os.chown(self.root, *ids)
        _run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                DB_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        # A disposable test database: durability off for speed; the socket lives in our dir
        # (Debian's /var/run/postgresql may not exist or belong to another cluster).
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        _run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.root / "postgres.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def processes(self) -> list[int]:
        """The postmaster and its children (each backend runs in a process group of its own)."""
        pid = self.postmaster_pid()
        if pid is None:
            return []
        return [pid, *children_of(pid)]

    def stop(self, timeout: float = 30.0) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        # Fast shutdown disconnects clients (a Prefect server may still hold a pool); immediate
        # shutdown if that did not finish; SIGKILL to the postmaster and its children as a last resort.
        for mode in ("fast", "immediate"):
            ctl = [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                mode,
                "-w",
                "-t",
                str(int(timeout)),
                "stop",
            ]
            try:
                _run(ctl, timeout=timeout + 10)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            if not _alive(pid):
                return
        for leftover in [pid, *children_of(pid)]:
            try:
                os.kill(leftover, signal.SIGKILL)
            except ProcessLookupError:
                pass


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie waiting for its parent is as good as gone.
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


@contextmanager
def postgres_server() -> Iterator[PostgresCluster]:
    """A running cluster (initdb + pg_ctl start); stopped and its directory removed after."""
    root = Path(tempfile.mkdtemp(prefix="runops-pg-"))
    cluster = PostgresCluster(root=root, port=free_port(), bin=pg_bin())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_cluster(database: str | None = None) -> Iterator[str]:
    """A fresh cluster with one fresh database; yields its `postgresql+asyncpg://` URL."""
    with postgres_server() as cluster:
        yield cluster.create_database(database)
