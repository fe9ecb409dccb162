"""An undo plan's own choices, as its job record keeps them (`Plan.options`, JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class UndoOptions:
    since: datetime  # when the undone job started: a state set before it is not the job's
    undo_of: str = "?"  # the undone job's id
    undone_action: str = ""
    # run id → (state type, name): a retried run goes back to this state; the apply re-checks
    # its history first
    restore: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "undo_of": self.undo_of,
            "undone_action": self.undone_action,
            "since": self.since.isoformat(),
            "restore": {run_id: list(state) for run_id, state in self.restore.items()},
        }

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> UndoOptions:
        return cls(
            since=datetime.fromisoformat(str(options.get("since"))),
            undo_of=str(options.get("undo_of", "?")),
            undone_action=str(options.get("undone_action", "")),
            restore={
                run_id: (state[0], state[1]) for run_id, state in (options.get("restore") or {}).items()
            },
        )
