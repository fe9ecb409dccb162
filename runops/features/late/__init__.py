"""Late runs: plan and apply a safe bulk reschedule (shift, fixed or spread), in place or recreated."""

from __future__ import annotations

from runops.features.late.apply import RESCHEDULE, apply_reschedule
from runops.features.late.plan import (
    check_plan,
    deployment_names,
    past_items,
    plan_reschedule,
    summary,
    with_consent,
)
from runops.features.late.request import (
    ACTION,
    CREATE_ATTEMPTS,
    PAST_WARNING,
    RESCHEDULABLE_STATES,
    RescheduleRequest,
    is_long_move,
    parse_limit,
)

__all__ = [
    "ACTION",
    "CREATE_ATTEMPTS",
    "PAST_WARNING",
    "RESCHEDULABLE_STATES",
    "RESCHEDULE",
    "RescheduleRequest",
    "apply_reschedule",
    "check_plan",
    "deployment_names",
    "is_long_move",
    "parse_limit",
    "past_items",
    "plan_reschedule",
    "summary",
    "with_consent",
]
