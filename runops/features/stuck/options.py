"""A stuck-runs plan's own choices, as its job record keeps them (`Plan.options`, JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StuckOptions:
    retry: bool = False  # retry each marked run in place afterwards
    # run id → the id of the state it was found stuck in: a run that moved on since is left alone
    state_ids: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> StuckOptions:
        return cls(retry=bool(options.get("retry")), state_ids=dict(options.get("state_ids") or {}))
