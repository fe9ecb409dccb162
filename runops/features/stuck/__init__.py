"""Stuck runs: Running/Pending far longer than their deployment usually takes, or Cancelling too long."""

from __future__ import annotations

from runops.features.stuck.apply import (
    MARKED,
    TARGET,
    StuckBatch,
    apply_stuck,
    batch_key,
    check_plan,
    transition_id,
)
from runops.features.stuck.plan import (
    FORCE_WARNING,
    HISTORY_RUNS,
    LIVE_WORKER,
    MARK_CANCELLED,
    MARK_CRASHED,
    MAX_RUNS,
    MIN_HISTORY,
    PLAN_ACTION,
    STUCK_STATES,
    Findings,
    StuckRequest,
    StuckRun,
    Usual,
    find_stuck,
    plan_from,
    plan_stuck,
    usual_durations,
)

__all__ = [
    "FORCE_WARNING",
    "HISTORY_RUNS",
    "LIVE_WORKER",
    "MARKED",
    "MARK_CANCELLED",
    "MARK_CRASHED",
    "MAX_RUNS",
    "MIN_HISTORY",
    "PLAN_ACTION",
    "STUCK_STATES",
    "TARGET",
    "Findings",
    "StuckBatch",
    "StuckRequest",
    "StuckRun",
    "Usual",
    "apply_stuck",
    "batch_key",
    "check_plan",
    "find_stuck",
    "plan_from",
    "plan_stuck",
    "transition_id",
    "usual_durations",
]
