"""The audit log is append-only SQLite."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from runops.operations import Report, RunResult
from runops.store import Store


def test_append_and_refuse_changes(tmp_path) -> None:
    log = Store(tmp_path / "a.sqlite")
    result = RunResult(uuid4(), "r1", "f/d", "cancel", "Late", "Cancelled", "done")
    report = Report("cancel runs", "state Late", 1, [result], datetime.now(UTC), 0.5, 1, 1, actor="ana")
    op = log.audit.record(report)
    assert log.audit.operations()[0]["id"] == op
    assert log.audit.runs(op)[0]["outcome"] == "done"
    with (
        sqlite3.connect(tmp_path / "a.sqlite") as conn,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        conn.execute("DELETE FROM operations")
    with (
        sqlite3.connect(tmp_path / "a.sqlite") as conn,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        conn.execute("UPDATE operation_runs SET outcome = 'failed'")
