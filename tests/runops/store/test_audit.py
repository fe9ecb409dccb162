"""The audit log is append-only on both databases: UPDATE and DELETE are refused by the database itself."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from runops.engine.plan import Report, RunResult
from runops.store import Store


def test_append_and_refuse_changes(store: Store) -> None:
    result = RunResult(uuid4(), "r1", "f/d", "cancel", "Late", "Cancelled", "done")
    report = Report("cancel runs", "state Late", 1, [result], datetime.now(UTC), 0.5, 1, 1, actor="ana")
    report.job_id, report.reason = str(uuid4()), "INC-1"
    op = store.audit.record(report)
    [row] = store.audit.operations()
    assert row["id"] == op and row["job_id"] == report.job_id and row["reason"] == "INC-1"
    assert row["not_attempted"] == 0 and row["done"] == 1
    assert store.audit.runs(op)[0]["outcome"] == "done"
    engine = store.audit.engine
    for statement in (
        "DELETE FROM operations",
        "UPDATE operations SET actor = 'mallory'",
        "UPDATE operation_runs SET outcome = 'failed'",
        "DELETE FROM operation_runs",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE operations"))
    assert store.audit.operations()[0]["actor"] == "ana"
    assert len(store.audit.runs(op)) == 1
