"""Jobs: a confirmed plan recorded before its first change, each run's outcome journaled as it is answered.

A job is owned by one process at a time (`owner`: host, pid and a token) that renews a heartbeat
while it applies. A job still marked running whose owner is gone (a dead pid on this host, or no
heartbeat for `STALE_AFTER_S`) is interrupted, and whoever claims it next resumes it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, bindparam, func, insert, select, update

from runops.engine.plan import Plan, RunResult
from runops.store.db import job_runs, jobs
from runops.store.records import (
    DONE,
    FAILED,
    HEARTBEAT_S,
    INTERRUPTED,
    RUNNING,
    STALE_AFTER_S,
    STOPPED,
    Job,
    JobBusy,
    JobRun,
    UnknownJob,
    iso,
    item_of_row,
    job_of_row,
    new_owner,
    owner_alive,
    owner_words,
    run_row,
)

__all__ = [
    "DONE",
    "FAILED",
    "HEARTBEAT_S",
    "INTERRUPTED",
    "RUNNING",
    "STALE_AFTER_S",
    "STOPPED",
    "Job",
    "JobBusy",
    "JobRun",
    "JobStore",
    "UnknownJob",
    "new_owner",
    "owner_alive",
]


@dataclass(frozen=True)
class JobStore:
    engine: Engine

    # -- writing --------------------------------------------------------------------------------
    def create(
        self, plan: Plan, *, actor: str, reason: str = "", api_url: str | None = None
    ) -> tuple[str, str]:
        """Record a job and its frozen plan, owned by this process; returns (job id, owner)."""
        job_id, owner = str(uuid.uuid4()), new_owner()
        with self.engine.begin() as conn:
            conn.execute(
                insert(jobs).values(
                    id=job_id,
                    plan_uid=str(plan.uid),
                    action=plan.action,
                    selection=plan.selection,
                    policy=plan.policy,
                    reason=reason,
                    actor=actor,
                    api_url=api_url,
                    status=RUNNING,
                    created=iso(datetime.now(UTC)),
                    plan_created=iso(plan.created_at),
                    planned=len(plan.items),
                    matched=plan.matched,
                    options=json.dumps(plan.options, default=str),
                    owner=owner,
                    heartbeat=time.time(),
                )
            )
            if plan.items:
                conn.execute(
                    insert(job_runs), [run_row(job_id, seq, item) for seq, item in enumerate(plan.items)]
                )
        return job_id, owner

    def claim(self, job_id: str) -> tuple[Job, str]:
        """Take over a job that is not running (finished, stopped or its process gone), for a
        resume; refused while its owner lives, and to all but one of several claims at once."""
        job = self.get(job_id)
        if job.status == RUNNING:
            raise JobBusy(
                f"Job {job_id} is running ({owner_words(job.owner)}); it can be resumed once it "
                "stops or its process is gone."
            )
        owner = new_owner()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, func.coalesce(jobs.c.owner, "") == (job.owner or ""))
                .where(jobs.c.status == self._stored_status(conn, job_id))
                .values(
                    owner=owner,
                    heartbeat=time.time(),
                    status=RUNNING,
                    stop_requested=None,
                    finished=None,
                    attempts=jobs.c.attempts + 1,
                )
            ).rowcount
        if claimed != 1:
            raise JobBusy(f"Job {job_id} was just taken up by another resume; it runs there.")
        return self.get(job_id), owner

    @staticmethod
    def _stored_status(conn: Any, job_id: str) -> str:
        return str(conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar_one())

    def heartbeat(self, job_id: str, owner: str) -> tuple[bool, str | None]:
        """Renew the lease; (still ours, the status a Stop asks for)."""
        with self.engine.begin() as conn:
            ours = conn.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner).values(heartbeat=time.time())
            ).rowcount
            stop = conn.execute(select(jobs.c.stop_requested).where(jobs.c.id == job_id)).scalar_one_or_none()
        return ours == 1, stop

    def journal(self, job_id: str, results: Sequence[RunResult]) -> None:
        """Write the outcomes of answered runs (one statement for many)."""
        if not results:
            return
        now = time.time()
        statement = (
            update(job_runs)
            .where(job_runs.c.job_id == bindparam("j"), job_runs.c.run_id == bindparam("rid"))
            .values(
                outcome=bindparam("o"),
                after=bindparam("a"),
                result_reason=bindparam("r"),
                replacement_id=bindparam("x"),
                answered=bindparam("t"),
            )
        )
        rows = [
            {
                "j": job_id,
                "rid": str(r.run_id),
                "o": r.outcome,
                "a": r.after,
                "r": r.reason,
                "x": str(r.replacement_id) if r.replacement_id else None,
                "t": now,
            }
            for r in results
        ]
        with self.engine.begin() as conn:
            conn.execute(statement, rows)

    def finish(
        self,
        job_id: str,
        owner: str,
        status: str,
        *,
        duration_s: float,
        concurrency: int | None,
        notes: Iterable[str] = (),
        audit_id: int | None = None,
    ) -> bool:
        """Mark the job ended (if this owner still has it)."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.owner == owner)
                    .values(
                        status=status,
                        finished=iso(datetime.now(UTC)),
                        heartbeat=None,
                        duration_s=jobs.c.duration_s + duration_s,
                        concurrency=concurrency,
                        notes=json.dumps(list(notes)),
                        audit_id=audit_id,
                    )
                ).rowcount
                == 1
            )

    def request_stop(self, job_id: str, status: str = STOPPED) -> bool:
        """Ask the job's owner, wherever it runs, to stop sending; false if it is not running."""
        job = self.get(job_id)
        if job.status != RUNNING:
            return False
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(stop_requested=status))
        return True

    # -- reading --------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        try:
            UUID(job_id)
        except (ValueError, TypeError, AttributeError):
            raise UnknownJob(f"{job_id!r} is not a job id (`runops jobs list` shows them).") from None
        found = self._jobs(jobs.c.id == job_id, limit=1)
        if not found:
            raise UnknownJob(f"No job {job_id} in this store (`runops jobs list` shows them).")
        return found[0]

    def list(self, limit: int = 200, status: str | None = None) -> list[Job]:
        """Newest first; `status` filters on the effective status (running, interrupted, …)."""
        if status is None:
            return self._jobs(None, limit=limit)
        # in SQL first (a job still marked running may have become interrupted), so a live list
        # of running jobs never reads and tallies the whole history
        stored = [RUNNING, INTERRUPTED] if status == INTERRUPTED else [status]
        found = self._jobs(
            jobs.c.status.in_(stored), limit=None if status in (RUNNING, INTERRUPTED) else limit
        )
        return [j for j in found if j.status == status][:limit]

    def _jobs(self, where: Any, limit: int | None) -> list[Job]:
        query = select(jobs).order_by(jobs.c.created.desc())
        if where is not None:
            query = query.where(where)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = [row._mapping for row in conn.execute(query)]
            counts: dict[str, dict[str | None, int]] = {}
            if rows:
                tally = conn.execute(
                    select(job_runs.c.job_id, job_runs.c.outcome, func.count())
                    .where(job_runs.c.job_id.in_([r["id"] for r in rows]))
                    .group_by(job_runs.c.job_id, job_runs.c.outcome)
                )
                for job_id, outcome, n in tally:
                    counts.setdefault(job_id, {})[outcome] = n
        now = time.time()
        return [job_of_row(row, counts.get(row["id"], {}), now) for row in rows]

    def runs(self, job_id: str) -> list[JobRun]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(job_runs).where(job_runs.c.job_id == job_id).order_by(job_runs.c.seq))
            return [
                JobRun(
                    item_of_row(row._mapping), row.outcome, row.after, row.result_reason, row.replacement_id
                )
                for row in rows
            ]

    def plan(self, job_id: str) -> Plan:
        """The frozen plan as it was recorded (every run, whatever its outcome)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise UnknownJob(f"No job {job_id} in this store.")
        return Plan(
            action=row.action,
            selection=row.selection,
            items=tuple(r.item for r in self.runs(job_id)),
            policy=row.policy,
            matched=row.matched,
            created_at=datetime.fromisoformat(row.plan_created),
            options=json.loads(row.options),
            uid=UUID(row.plan_uid),
        )
