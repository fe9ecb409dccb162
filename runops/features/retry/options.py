"""A retry plan's own choices, as its job record keeps them (`Plan.options`, JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RetryOptions:
    state_types: tuple[str, ...] = ()
    # the newest end time the preview saw (server clock): a run that ends again after the
    # preview (retried by someone else and failed again) no longer matches
    ended_by: datetime | None = None
    ended: dict[str, datetime] = field(default_factory=dict)  # run id → when it ended, as previewed
    latest_per_deployment: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "state_types": list(self.state_types),
            "ended_by": self.ended_by.isoformat() if self.ended_by else None,
            "ended": {run_id: at.isoformat() for run_id, at in self.ended.items()},
            "latest_per_deployment": self.latest_per_deployment,
        }

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> RetryOptions:
        ended_by = options.get("ended_by")
        return cls(
            state_types=tuple(options.get("state_types") or ()),
            ended_by=datetime.fromisoformat(ended_by) if ended_by else None,
            ended={run_id: datetime.fromisoformat(at) for run_id, at in (options.get("ended") or {}).items()},
            latest_per_deployment=bool(options.get("latest_per_deployment")),
        )
