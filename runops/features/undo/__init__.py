"""Undo: put back the runs a reschedule, retry or cancel job changed, only those still as it left them."""

from __future__ import annotations

from runops.features.undo.apply import UNDO, UndoHandler, apply_undo, check_plan, transition_id
from runops.features.undo.plan import PAST_NOTE, as_left, plan_undo, started_runs, summary, undo_action
from runops.features.undo.request import (
    ACTION,
    MOVE_BACK,
    NOT_UNDOABLE_STARTED,
    UNCANCEL,
    UNDOABLE,
    UNRETRY,
    UndoRequest,
    refusal,
)

__all__ = [
    "ACTION",
    "MOVE_BACK",
    "NOT_UNDOABLE_STARTED",
    "PAST_NOTE",
    "UNCANCEL",
    "UNDO",
    "UNDOABLE",
    "UNRETRY",
    "UndoHandler",
    "UndoRequest",
    "apply_undo",
    "as_left",
    "check_plan",
    "plan_undo",
    "refusal",
    "started_runs",
    "summary",
    "transition_id",
    "undo_action",
]
