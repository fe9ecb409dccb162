"""Bulk cancel: plan and apply the cancellation of every matching run, the way Prefect's CLI does."""

from __future__ import annotations

from runops.features.cancel.apply import CANCEL, apply_cancel, cancel_batches
from runops.features.cancel.plan import action_for, check_plan, plan_cancel
from runops.features.cancel.request import (
    CANCELLABLE_STATES,
    DEFAULT_STATES,
    FORCE_WARNING,
    PLAN_ACTION,
    WINDOW_FIELDS,
    CancelAction,
    CancelRequest,
    build_selection,
    chosen_selection,
    count_matching,
    with_default_states,
)

__all__ = [
    "CANCEL",
    "CANCELLABLE_STATES",
    "DEFAULT_STATES",
    "FORCE_WARNING",
    "PLAN_ACTION",
    "WINDOW_FIELDS",
    "CancelAction",
    "CancelRequest",
    "action_for",
    "apply_cancel",
    "build_selection",
    "cancel_batches",
    "check_plan",
    "chosen_selection",
    "count_matching",
    "plan_cancel",
    "with_default_states",
]
