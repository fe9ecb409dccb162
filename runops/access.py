"""Who may change runs: enforced here, in the service layer, not only by hiding buttons."""

from __future__ import annotations

import os
from collections.abc import Mapping

from runops.errors import NotAllowed


def read_only(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return (env.get("RUNOPS_READ_ONLY") or "").strip().lower() in {"1", "true", "yes", "on"}


def ensure_may_apply(actor: str, env: Mapping[str, str] | None = None) -> None:
    """Raise NotAllowed unless `actor` may change runs here."""
    if read_only(env):
        raise NotAllowed(
            "runops is in read-only mode (RUNOPS_READ_ONLY): previews work, changes are refused."
        )
