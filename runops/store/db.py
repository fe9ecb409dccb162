"""Where runops keeps jobs and the audit log: one SQLAlchemy database, SQLite by default, PostgreSQL to share."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError

from runops.errors import ConfigError

SCHEMA_VERSION = 2
metadata = MetaData()

schema_version = Table("runops_schema", metadata, Column("version", Integer, nullable=False))

# -- the audit log: append-only (triggers refuse UPDATE and DELETE on both databases) ----------
operations = Table(
    "operations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("at", String(40), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("selection", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("planned", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("not_attempted", Integer, nullable=False, server_default="0"),
    Column("duration_s", Float, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("api_url", Text),
    Column("job_id", String(36)),
    Column("status", String(20)),
    Column("reason", Text),
)
operation_runs = Table(
    "operation_runs",
    metadata,
    Column("operation_id", Integer, nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("name", Text),
    Column("deployment", Text),
    Column("action", Text, nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("outcome", String(20), nullable=False),
    Column("reason", Text),
)

# -- jobs: the frozen plan and each run's outcome, written as answers arrive --------------------
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("plan_uid", String(36), nullable=False),
    Column("action", Text, nullable=False),
    Column("selection", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("actor", Text, nullable=False),
    Column("api_url", Text),
    Column("status", String(20), nullable=False),
    Column("created", String(40), nullable=False),
    Column("plan_created", String(40), nullable=False),
    Column("finished", String(40)),
    Column("planned", Integer, nullable=False),
    Column("matched", Integer),
    Column("options", Text, nullable=False),  # JSON
    Column("owner", Text),  # host:pid:token of the process applying it now (or last)
    Column("heartbeat", Float),  # epoch seconds, renewed while the owner applies
    Column("stop_requested", String(20)),  # the status a Stop asks for ("stopped")
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("duration_s", Float, nullable=False, server_default="0"),
    Column("concurrency", Integer),
    Column("notes", Text, nullable=False, server_default="[]"),  # JSON list
    Column("audit_id", Integer),
)
Index("jobs_created", jobs.c.created)
job_runs = Table(
    "job_runs",
    metadata,
    Column("job_id", String(36), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("name", Text, nullable=False),
    Column("deployment", Text),
    Column("flow", Text),
    Column("state", Text, nullable=False),
    Column("state_type", String(20)),
    Column("action", Text, nullable=False),
    Column("scheduled_time", String(40)),
    Column("new_time", String(40)),
    Column("plan_reason", Text, nullable=False, server_default=""),
    Column("warnings", Text, nullable=False, server_default="[]"),  # JSON list
    Column("outcome", String(20)),  # NULL: not answered yet
    Column("after", Text),
    Column("result_reason", Text),
    Column("replacement_id", String(36)),  # recreate mode: the run made in the original's place
    Column("answered", Float),
)
Index("job_runs_run", job_runs.c.job_id, job_runs.c.run_id)
Index("job_runs_outcome", job_runs.c.job_id, job_runs.c.outcome)

APPEND_ONLY = ("operations", "operation_runs")
_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    for table in APPEND_ONLY
    for verb in ("UPDATE", "DELETE")
]
_PG_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION runops_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
    *(
        f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION runops_append_only()"
        for table in APPEND_ONLY
    ),
    *(
        f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION runops_append_only()"
        for table in APPEND_ONLY
    ),
]


def default_url(home: Path, env: Mapping[str, str] | None = None) -> str:
    """RUNOPS_DATABASE_URL when set (a PostgreSQL URL to share jobs between replicas, or a SQLite
    file), else SQLite in home."""
    env = os.environ if env is None else env
    url = (env.get("RUNOPS_DATABASE_URL") or "").strip()
    if url:
        return normalise(url)
    return f"sqlite:///{(home / 'runops.sqlite').resolve()}"


def normalise(url: str | Path) -> str:
    """A path means SQLite; any PostgreSQL URL uses psycopg (runops' store is synchronous)."""
    if isinstance(url, Path) or "://" not in str(url):
        return f"sqlite:///{Path(url).resolve()}"
    parsed = make_url(str(url))
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.get_backend_name() != "sqlite":
        raise ConfigError(
            f"RUNOPS_DATABASE_URL must be SQLite or PostgreSQL, not {parsed.get_backend_name()}."
        )
    return parsed.render_as_string(hide_password=False)


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_for(url: str | Path) -> Engine:
    """One engine per database in this process, with the schema installed."""
    key = normalise(url)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create(key)
            _install_racing(engine)
            _engines[key] = engine
        return engine


def _install_racing(engine: Engine, tries: int = 5) -> None:
    """SQLite has no lock to take before "create if missing": two processes opening a new store
    at once may both try; the loser finds the tables on its next try."""
    for attempt in range(tries):
        try:
            install(engine)
            return
        except OperationalError as exc:
            if "already exists" not in str(exc) or attempt + 1 == tries:
                raise
            time.sleep(0.05 * (attempt + 1))


def _create(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL: pages read while a job writes its answers; NORMAL is durable enough with WAL
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def install(engine: Engine) -> None:
    """Create the tables and the append-only triggers once (a versioned schema of runops' own)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # two replicas starting together: one installs, the other waits and finds it done
            conn.execute(text("SELECT pg_advisory_xact_lock(7436627)"))
        metadata.create_all(conn)
        found = conn.execute(select(schema_version.c.version)).scalar()
        if found is not None:
            _upgrade(conn, found)
            return
        for statement in _PG_TRIGGERS if engine.dialect.name == "postgresql" else _SQLITE_TRIGGERS:
            conn.execute(text(statement))
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))


# Each step brings a store written by an older runops up by one version, in place.
_UPGRADES = {1: ("ALTER TABLE job_runs ADD COLUMN replacement_id VARCHAR(36)",)}


def _upgrade(conn: Connection, version: int) -> None:
    while version < SCHEMA_VERSION:
        for statement in _UPGRADES[version]:
            conn.execute(text(statement))
        version += 1
        conn.execute(update(schema_version).values(version=version))
