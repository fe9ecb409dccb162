"""What a job will do and what it did: the frozen plan, each run's result and outcome, the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4


class RunOutcome(StrEnum):
    """How each planned run ended; the values are what reports, JSON and the job store hold."""

    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"


DONE, SKIPPED, FAILED, NOT_ATTEMPTED = (
    RunOutcome.DONE,
    RunOutcome.SKIPPED,
    RunOutcome.FAILED,
    RunOutcome.NOT_ATTEMPTED,
)
OUTCOMES = tuple(RunOutcome)
SKIP = "skip"  # the action of a planned run left as it is


@dataclass(frozen=True)
class PlannedRun:
    """One run and what the plan will do to it."""

    run_id: UUID
    name: str
    deployment: str | None
    state: str
    action: str
    scheduled_time: datetime | None = None
    new_time: datetime | None = None
    reason: str = ""
    warnings: tuple[str, ...] = ()
    flow: str | None = None
    state_type: str | None = None


@dataclass(frozen=True)
class Plan:
    """Exactly which runs an operation touches, frozen at confirm time."""

    action: str
    selection: str
    items: tuple[PlannedRun, ...]
    policy: str = ""
    matched: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    # names the plan for its whole life (narrowed, stored in a job, resumed): it salts the
    # transition ids a retried or resumed change is recognised by
    uid: UUID = field(default_factory=uuid4)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def to_change(self) -> tuple[PlannedRun, ...]:
        return tuple(item for item in self.items if item.action != SKIP)

    def counts(self) -> dict[str, int]:
        return dict(Counter(item.action for item in self.items))

    @property
    def warnings(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for item in self.items:
            for warning in item.warnings:
                seen.setdefault(warning, None)
        return tuple(seen)


@dataclass(frozen=True)
class RunResult:
    run_id: UUID
    name: str
    deployment: str | None
    action: str
    before: str
    after: str | None
    outcome: RunOutcome
    reason: str = ""
    new_time: datetime | None = None
    # what a person must know of a change made (or maybe made): e.g. a forced Cancelled whose
    # process may still run
    warning: str = ""
    replacement_id: UUID | None = None  # recreate mode: the new run made in the original's place

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = str(data.pop("run_id"))
        data["new_time"] = self.new_time.isoformat() if self.new_time else None
        data["warning"] = self.warning or None
        data["replacement_id"] = str(self.replacement_id) if self.replacement_id else None
        return data


@dataclass
class Report:
    action: str
    selection: str
    planned: int
    results: list[RunResult]
    started_at: datetime
    duration_s: float
    concurrency: int
    peak_concurrency: int
    policy: str = ""
    start_concurrency: int | None = None  # where the job began
    actor: str = ""
    audit_id: int | None = None
    notes: list[str] = field(default_factory=list)
    uid: UUID = field(default_factory=uuid4)  # names the operation in the audit log and Prefect's events
    job_id: str | None = None
    status: str = ""  # the job's status when it ended: done, failed, stopped or interrupted
    reason: str = ""

    @property
    def totals(self) -> dict[str, int]:
        return totals_of(r.outcome for r in self.results)

    @property
    def failed_ids(self) -> list[UUID]:
        return [r.run_id for r in self.results if r.outcome == FAILED]

    def summary(self) -> str:
        t = self.totals
        start = self.start_concurrency
        began = f", started at {start}" if start is not None and start != self.concurrency else ""
        rest = f", {t[NOT_ATTEMPTED_KEY]} not attempted" if t[NOT_ATTEMPTED_KEY] else ""
        return (
            f"{self.action}: {t[DONE]} done, {t[SKIPPED]} skipped, {t[FAILED]} failed{rest} "
            f"of {self.planned} planned in {self.duration_s:.1f}s (concurrency {self.concurrency}{began})"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "selection": self.selection,
            "policy": self.policy,
            "planned": self.planned,
            "results": [r.as_json() for r in self.results],
            "totals": self.totals,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "concurrency": self.concurrency,
            "start_concurrency": self.start_concurrency,
            "audit_id": self.audit_id,
            "operation": str(self.uid),
            "job": self.job_id,
            "status": self.status or None,
            "reason": self.reason or None,
            "notes": self.notes,
        }


NOT_ATTEMPTED_KEY = "not_attempted"  # the JSON key of NOT_ATTEMPTED in totals


def totals_of(outcomes: Iterable[str | None] | Mapping[str, int]) -> dict[str, int]:
    """Counts per outcome (from outcomes, or counts by outcome), every key present (JSON keys:
    done, skipped, failed, not_attempted)."""
    counts = Counter(outcomes) if not isinstance(outcomes, Mapping) else Counter(dict(outcomes))
    return {
        DONE: counts[DONE],
        SKIPPED: counts[SKIPPED],
        FAILED: counts[FAILED],
        NOT_ATTEMPTED_KEY: counts[NOT_ATTEMPTED],
    }


def result_for(
    item: PlannedRun,
    outcome: RunOutcome | str,
    after: str | None = None,
    reason: str = "",
    replacement_id: UUID | None = None,
) -> RunResult:
    """The result of one planned run (`outcome` may be a stored outcome's string); the plan's
    warnings go with it when the change was (or may have been) made."""
    outcome = RunOutcome(outcome)
    return RunResult(
        run_id=item.run_id,
        name=item.name,
        deployment=item.deployment,
        action=item.action,
        before=item.state,
        after=after,
        outcome=outcome,
        reason=reason,
        new_time=item.new_time,
        warning=" ".join(item.warnings) if outcome in (RunOutcome.DONE, RunOutcome.FAILED) else "",
        replacement_id=replacement_id,
    )


def only(plan: Plan, run_ids: Iterable[UUID]) -> Plan:
    """The same plan narrowed to some runs (e.g. "again, only what failed"); it keeps its uid, so
    a change an earlier try made without an answer is recognised as this plan's."""
    wanted = set(run_ids)
    return replace(plan, items=tuple(i for i in plan.items if i.run_id in wanted))
