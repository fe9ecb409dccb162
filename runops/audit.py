"""Append-only audit log of every apply (who, when, what, which runs, outcome) in local SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runops.operations import Report

SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    selection TEXT NOT NULL,
    policy TEXT NOT NULL,
    planned INTEGER NOT NULL,
    done INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    concurrency INTEGER NOT NULL,
    api_url TEXT
);
CREATE TABLE IF NOT EXISTS operation_runs (
    operation_id INTEGER NOT NULL REFERENCES operations(id),
    run_id TEXT NOT NULL,
    name TEXT,
    deployment TEXT,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT,
    outcome TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS operation_runs_op ON operation_runs(operation_id);
CREATE TRIGGER IF NOT EXISTS operations_no_update BEFORE UPDATE ON operations
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS operations_no_delete BEFORE DELETE ON operations
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS operation_runs_no_update BEFORE UPDATE ON operation_runs
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS operation_runs_no_delete BEFORE DELETE ON operation_runs
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def default_path(home: Path) -> Path:
    return Path(os.environ.get("RUNOPS_AUDIT_DB") or home / "audit.sqlite")


@dataclass(frozen=True)
class AuditLog:
    path: Path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.executescript(SCHEMA)
        return conn

    def record(self, report: Report, api_url: str | None = None) -> int:
        """Append one operation with its runs; returns the operation id."""
        totals = report.totals
        with closing(self._connect()) as conn, conn:
            cursor = conn.execute(
                "INSERT INTO operations (uid, at, actor, action, selection, policy, planned, done, skipped,"
                " failed, duration_s, concurrency, api_url) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    str(report.uid),
                    report.started_at.isoformat(),
                    report.actor or "unknown",
                    report.action,
                    report.selection,
                    report.policy,
                    report.planned,
                    totals["done"],
                    totals["skipped"],
                    totals["failed"],
                    report.duration_s,
                    report.concurrency,
                    api_url,
                ),
            )
            operation_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO operation_runs VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        operation_id,
                        str(r.run_id),
                        r.name,
                        r.deployment,
                        r.action,
                        r.before,
                        r.after,
                        r.outcome,
                        r.reason,
                    )
                    for r in report.results
                ],
            )
        return operation_id

    def operations(self, limit: int = 200) -> list[dict[str, Any]]:
        with closing(self._connect()) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM operations ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    def runs(self, operation_id: int) -> list[dict[str, Any]]:
        with closing(self._connect()) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                "SELECT * FROM operation_runs WHERE operation_id = ? ORDER BY rowid", (operation_id,)
            ).fetchall()
        return [dict(r) for r in rows]

    def export_json(self, operation_id: int) -> str:
        return json.dumps(self.runs(operation_id), indent=2)
