"""The state message runops writes on every run it changes, so Prefect's own UI shows who and why."""

from __future__ import annotations

from dataclasses import dataclass

MAX_MESSAGE = 500  # Prefect stores state messages as text; keep one readable in its UI


def state_message(verb: str, actor: str = "", reason: str = "", detail: str = "") -> str:
    """`runops: cancelled by ana@example.com: INC-4711 db failover` (`detail` goes in brackets
    after the verb, e.g. "stuck in Cancelling")."""
    text = f"runops: {verb}"
    if detail:
        text += f" ({detail})"
    if actor:
        text += f" by {actor}"
    reason = " ".join(reason.split())
    if reason:
        text += f": {reason}"
    return text[:MAX_MESSAGE]


@dataclass(frozen=True)
class Signed:
    """Who runs a job and why: what every state it proposes says (handed to each kind's handlers)."""

    actor: str = ""
    reason: str = ""

    def message(self, verb: str, detail: str = "") -> str:
        return state_message(verb, self.actor, self.reason, detail)


UNSIGNED = Signed()  # a state proposed outside a job (tests, benchmarks of the raw engine)
