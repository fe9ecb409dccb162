"""Jobs and their runs as records: statuses, owners and heartbeats, and the rows they are stored as."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from runops.engine.plan import DONE as RUN_DONE
from runops.engine.plan import FAILED as RUN_FAILED
from runops.engine.plan import OUTCOMES, PlannedRun, totals_of
from runops.errors import BadInput, NotAllowed

RUNNING, DONE, FAILED, STOPPED, INTERRUPTED = "running", "done", "failed", "stopped", "interrupted"
HEARTBEAT_S = 5.0
STALE_AFTER_S = 30.0  # no heartbeat for this long: the owner is gone (within a minute, as promised)
HOST = socket.gethostname()


def new_owner() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str | None, heartbeat: float | None, now: float | None = None) -> bool:
    """Whether the process named by `owner` may still be applying the job."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == HOST and pid_text.isdigit():
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return False  # on this host and gone: no need to wait for the heartbeat to age
        except PermissionError:
            pass  # alive, another user's
    now = time.time() if now is None else now
    return heartbeat is not None and now - heartbeat < STALE_AFTER_S


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def time_of(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Job:
    """A job as listed: what, who, when, and how far."""

    id: str
    action: str
    status: str
    actor: str
    started: datetime
    finished: datetime | None
    selection: str
    reason: str
    policy: str
    planned: int
    totals: dict[str, int]
    answered: int
    api_url: str | None
    owner: str | None
    attempts: int
    duration_s: float
    concurrency: int | None
    audit_id: int | None
    notes: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def open_runs(self) -> int:
        """Runs a resume would take up: not answered, failed or not attempted."""
        t = self.totals
        return self.planned - t["done"] - t["skipped"]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "status": self.status,
            "actor": self.actor,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "selection": self.selection,
            "reason": self.reason or None,
            "planned": self.planned,
            "totals": self.totals,
        }


@dataclass(frozen=True)
class JobRun:
    """One run of a job: the plan's row and, once answered, its outcome."""

    item: PlannedRun
    outcome: str | None
    after: str | None
    reason: str | None
    replacement_id: str | None = None

    @property
    def warning(self) -> str:
        """The plan's warnings, once the change was (or may have been) made."""
        return " ".join(self.item.warnings) if self.outcome in (RUN_DONE, RUN_FAILED) else ""

    def as_json(self) -> dict[str, Any]:
        item = self.item
        return {
            "id": str(item.run_id),
            "name": item.name,
            "deployment": item.deployment,
            "action": item.action,
            "before": item.state,
            "scheduled_time": item.scheduled_time.isoformat() if item.scheduled_time else None,
            "new_time": item.new_time.isoformat() if item.new_time else None,
            "outcome": self.outcome,
            "after": self.after,
            "reason": self.reason,
            "warning": self.warning or None,
            "replacement_id": self.replacement_id,
        }


class UnknownJob(BadInput):
    pass


class JobBusy(NotAllowed):
    pass


def owner_words(owner: str | None) -> str:
    if not owner:
        return "owner unknown"
    host, _, rest = owner.partition(":")
    return f"process {rest.partition(':')[0]} on {host}"


def job_of_row(row: Any, counts: dict[str | None, int], now: float) -> Job:
    status = row["status"]
    if status == RUNNING and not owner_alive(row["owner"], row["heartbeat"], now):
        status = INTERRUPTED
    totals = totals_of({o: n for o, n in counts.items() if o in OUTCOMES})
    answered = sum(totals.values())
    if status != RUNNING:
        # never answered and no one applying it any more: not attempted (or its answer was lost;
        # a resume re-reads those runs)
        totals["not_attempted"] += counts.get(None, 0)
    return Job(
        id=row["id"],
        action=row["action"],
        status=status,
        actor=row["actor"],
        started=datetime.fromisoformat(row["created"]),
        finished=time_of(row["finished"]),
        selection=row["selection"],
        reason=row["reason"] or "",
        policy=row["policy"],
        planned=row["planned"],
        totals=totals,
        answered=answered,
        api_url=row["api_url"],
        owner=row["owner"],
        attempts=row["attempts"],
        duration_s=row["duration_s"] or 0.0,
        concurrency=row["concurrency"],
        audit_id=row["audit_id"],
        notes=tuple(json.loads(row["notes"] or "[]")),
        options=json.loads(row["options"] or "{}"),
    )


def run_row(job_id: str, seq: int, item: PlannedRun) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "seq": seq,
        "run_id": str(item.run_id),
        "name": item.name,
        "deployment": item.deployment,
        "flow": item.flow,
        "state": item.state,
        "state_type": item.state_type,
        "action": item.action,
        "scheduled_time": iso(item.scheduled_time),
        "new_time": iso(item.new_time),
        "plan_reason": item.reason,
        "warnings": json.dumps(list(item.warnings)),
        "outcome": None,
    }


def item_of_row(row: Any) -> PlannedRun:
    return PlannedRun(
        run_id=UUID(row["run_id"]),
        name=row["name"],
        deployment=row["deployment"],
        state=row["state"],
        action=row["action"],
        scheduled_time=time_of(row["scheduled_time"]),
        new_time=time_of(row["new_time"]),
        reason=row["plan_reason"] or "",
        warnings=tuple(json.loads(row["warnings"] or "[]")),
        flow=row["flow"],
        state_type=row["state_type"],
    )
