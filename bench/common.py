"""Benchmark plumbing: a throwaway Prefect setup per benchmark, result rows, target checks, tables."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Benchmarks never use an ephemeral server or the user's profile.
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = _home = tempfile.mkdtemp(prefix="runops-bench-home-")
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"

from runops.dev.server import LocalPrefectServer
from runops.settings import Settings
from runops.store import Store


@contextmanager
def bench_server(database_url: str | None = None, services: bool = False) -> Iterator[LocalPrefectServer]:
    """A fresh local server (SQLite in a temp dir unless `database_url`); background services off
    by default so the late-marking loop does not compete with what is measured."""
    home = tempfile.mkdtemp(prefix="runops-bench-")
    try:
        server = LocalPrefectServer(home, ui=False, services=services, database_url=database_url)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)  # a SQLite benchmark leaves ~70 MB behind


SETUPS = {
    "sqlite": "one server process, SQLite",
    "postgres": "one server process, PostgreSQL",
    "pg-redis-1": "one API worker, PostgreSQL + Redis, services in their own process",
    "pg-redis-2": "two API workers, PostgreSQL + Redis, services in their own process",
}


@contextmanager
def bench_setup(name: str) -> Iterator[LocalPrefectServer]:
    """A fresh Prefect of the named setup, started and stopped by the project's own scripts."""
    if name == "sqlite":
        with bench_server() as server:
            yield server
    elif name == "postgres":
        from tests.infra.postgres import postgres_cluster

        with postgres_cluster() as database_url, bench_server(database_url=database_url) as server:
            yield server
    elif name in ("pg-redis-1", "pg-redis-2"):
        from tests.infra.scaled import scaled_prefect

        with scaled_prefect(workers=int(name[-1])) as scaled:
            yield scaled.server
    else:
        raise ValueError(f"unknown setup {name!r}: one of {', '.join(SETUPS)}")


def settings_for(server: LocalPrefectServer) -> Settings:
    return Settings(api_url=server.api_url, ui_url=server.ui_url)


@contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t: ...` then `t[0]` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


@dataclass
class Row:
    benchmark: str
    variant: str
    runs: int
    seconds: float
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    setup: str = ""

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else float("inf")


def table(rows: Sequence[Row], baseline: str | None = None) -> str:
    """Markdown table; `ratio` is each variant's runs/s relative to `baseline`'s (same benchmark)."""
    base = {r.benchmark: r for r in rows if r.variant == baseline}
    lines = [
        "| benchmark | variant | runs | seconds | runs/s | ratio | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ref = base.get(r.benchmark)
        ratio = f"{r.per_second / ref.per_second:.2f}×" if ref and r.seconds > 0 else ""
        lines.append(
            f"| {r.benchmark} | {r.variant} | {r.runs:,} | {r.seconds:.2f} | {r.per_second:.1f} | {ratio} | {r.note} |"
        )
    return "\n".join(lines)


@dataclass
class Check:
    """One target of an issue, as measured in this run."""

    what: str
    measured: str
    target: str
    met: bool
    setup: str = ""


def bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--setup", default="sqlite", choices=list(SETUPS), help="which Prefect to measure on")
    parser.add_argument("--json", type=Path, help="also write rows and checks here (for `make bench`)")


def report(
    args: argparse.Namespace,
    rows: Sequence[Row],
    checks: Sequence[Check],
    baseline: str | None,
    lines: Sequence[str] = (),
) -> None:
    """Print the table and the checks; with --json, hand them to `python -m bench` too."""
    for row in rows:
        row.setup = row.setup or args.setup
    for check in checks:
        check.setup = check.setup or args.setup
    print(machine())
    print(f"setup: {args.setup} — {SETUPS[args.setup]}")
    print(table(rows, baseline=baseline))
    for line in lines:
        print(line)
    for check in checks:
        print(f"{'MET' if check.met else 'MISSED'}: {check.what}: {check.measured} (target {check.target})")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": [asdict(r) for r in rows],
                    "checks": [asdict(c) for c in checks],
                    "lines": list(lines),
                },
                indent=1,
            )
        )


def _version(command: list[str]) -> str:
    import subprocess

    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        return "not installed"
    return out.split("\n")[0].strip() or "unknown"


def machine() -> str:
    import sqlite3

    import prefect

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from tests.infra.postgres import pg_bin

        postgres = _version([str(pg_bin() / "postgres"), "--version"])
    except Exception:
        postgres = "not installed"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC} · {platform.machine()} · {os.cpu_count()} cores ({cpu}) · "
        f"Python {platform.python_version()} · prefect {prefect.__version__} · SQLite {sqlite3.sqlite_version} · "
        f"{postgres} · {_version(['redis-server', '--version']).split(' sha=')[0]}"
    )


def job_store(server: LocalPrefectServer, home: Path) -> Store:
    """runops' job store on the setup's own kind of database: SQLite beside a SQLite server, a
    database of its own in the same PostgreSQL cluster beside a PostgreSQL server."""
    url = str(server.database_url)
    if not url.startswith("postgresql"):
        return Store(home / "runops.sqlite")
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    name = f"runops_store_{uuid.uuid4().hex[:8]}"
    dsn = parsed.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return Store(parsed.set(database=name).render_as_string(hide_password=False))
