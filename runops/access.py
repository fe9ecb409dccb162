"""Who may change runs and what they must say: read-only mode, the operators allow-list and
required reasons, enforced in the service layer."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass

from runops.errors import BadInput, NotAllowed

TRUE = {"1", "true", "yes", "on"}


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in (value or "").replace(";", ",").split(",") if part.strip())


@dataclass(frozen=True)
class AccessPolicy:
    """`operators` holds e-mails (`ana@example.com`), domains (`@example.com` or `example.com`) and
    OS users of the CLI (`os:alice`); empty means everyone who can reach runops may act."""

    read_only: bool = False
    operators: tuple[str, ...] = ()
    require_reason: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AccessPolicy:
        env = os.environ if env is None else env
        return cls(
            read_only=(env.get("RUNOPS_READ_ONLY") or "").strip().lower() in TRUE,
            operators=_split(env.get("RUNOPS_OPERATORS")),
            require_reason=(env.get("RUNOPS_REQUIRE_REASON") or "").strip().lower() in TRUE,
        )

    def is_operator(self, actor: str) -> bool:
        if not self.operators:
            return True
        who = actor.strip().lower()
        domain = who.rsplit("@", 1)[1] if "@" in who else None
        for entry in self.operators:
            if entry == who:
                return True
            if domain and entry.lstrip("@") == domain and "@" not in entry.lstrip("@"):
                return True
        return False

    def refusal(self, actor: str) -> str | None:
        """Why `actor` may not change runs, or None when they may."""
        if self.read_only:
            return "runops is in read-only mode (RUNOPS_READ_ONLY): previews work, changes are refused."
        if not self.is_operator(actor):
            return f"{actor} is not an operator here: previews work, changes are refused (RUNOPS_OPERATORS)."
        return None


def read_only(env: Mapping[str, str] | None = None) -> bool:
    return AccessPolicy.from_env(env).read_only


def ensure_may_apply(actor: str, env: Mapping[str, str] | None = None) -> None:
    """Raise NotAllowed unless `actor` may change runs here."""
    reason = AccessPolicy.from_env(env).refusal(actor)
    if reason:
        raise NotAllowed(reason)


def reason_required(env: Mapping[str, str] | None = None) -> bool:
    return AccessPolicy.from_env(env).require_reason


def ensure_reason(reason: str, env: Mapping[str, str] | None = None, *, how: str = "") -> None:
    """Raise BadInput when a reason is required here (RUNOPS_REQUIRE_REASON) and `reason` is
    blank; `how` tells the caller's way of giving one (e.g. "add --reason TEXT")."""
    if reason.strip() or not reason_required(env):
        return
    how = f": {how}" if how else ""
    raise BadInput(
        f"A reason is required for every change here (RUNOPS_REQUIRE_REASON){how}; nothing was changed."
    )


def cli_actor() -> str:
    """The OS user running the CLI, as the audit log and the operators list name them."""
    return f"os:{getpass.getuser()}"
