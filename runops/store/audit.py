"""The append-only audit log: one record per finished apply (who, when, what, which runs, outcome)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from runops.engine.plan import Report
from runops.store.db import operation_runs, operations


@dataclass(frozen=True)
class AuditLog:
    engine: Engine

    def record(self, report: Report, api_url: str | None = None) -> int:
        """Append one operation with its runs; returns the operation id."""
        totals = report.totals
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(operations).values(
                    uid=str(report.uid),
                    at=report.started_at.isoformat(),
                    actor=report.actor or "unknown",
                    action=report.action,
                    selection=report.selection,
                    policy=report.policy,
                    planned=report.planned,
                    done=totals["done"],
                    skipped=totals["skipped"],
                    failed=totals["failed"],
                    not_attempted=totals["not_attempted"],
                    duration_s=report.duration_s,
                    concurrency=report.concurrency,
                    api_url=api_url,
                    job_id=report.job_id,
                    status=report.status or None,
                    reason=report.reason or None,
                )
            )
            operation_id = int(result.inserted_primary_key[0])
            if report.results:
                conn.execute(
                    insert(operation_runs),
                    [
                        {
                            "operation_id": operation_id,
                            "seq": seq,
                            "run_id": str(r.run_id),
                            "name": r.name,
                            "deployment": r.deployment,
                            "action": r.action,
                            "before": r.before,
                            "after": r.after,
                            "outcome": r.outcome,
                            "reason": r.reason,
                        }
                        for seq, r in enumerate(report.results)
                    ],
                )
        return operation_id

    def operations(self, limit: int = 200) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(operations).order_by(operations.c.id.desc()).limit(limit))
            return [dict(row._mapping) for row in rows]

    def runs(self, operation_id: int) -> list[dict[str, Any]]:
        columns = [c for c in operation_runs.c if c.name != "seq"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*columns)
                .where(operation_runs.c.operation_id == operation_id)
                .order_by(operation_runs.c.seq)
            )
            return [dict(row._mapping) for row in rows]

    def export_json(self, operation_id: int) -> str:
        return json.dumps(self.runs(operation_id), indent=2)
