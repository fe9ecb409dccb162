"""The store: jobs and the append-only audit log in one database (SQLite by default, PostgreSQL to share)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runops.store.audit import AuditLog
from runops.store.db import default_url, engine_for
from runops.store.jobs import JobStore


@dataclass(frozen=True)
class Store:
    """`Store(path_or_url)`: a path is a SQLite file; a URL may name PostgreSQL."""

    target: str | Path

    @property
    def audit(self) -> AuditLog:
        return AuditLog(engine_for(self.target))

    @property
    def jobs(self) -> JobStore:
        return JobStore(engine_for(self.target))

    @property
    def where(self) -> str:
        """The database in words, without credentials."""
        url = engine_for(self.target).url
        return url.render_as_string(hide_password=True)


def default_store(home: Path) -> Store:
    return Store(default_url(home))


__all__ = ["AuditLog", "JobStore", "Store", "default_store", "default_url"]
