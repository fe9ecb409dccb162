"""Names as people type them: an unknown deployment, flow or pool is refused with the close names meant."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from runops.errors import BadInput

CLOSE = 0.6  # difflib's own default: below it two names share letters more than meaning
SUGGESTIONS = 3
CLEAR_LEAD = 0.2  # a suggestion this far behind the best one is not what was meant
MIN_PART = 4  # a shorter fragment is found inside too many names to point at one


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def close_names(kind: str, name: str, known: Sequence[str]) -> list[str]:
    """The known names `name` was probably meant to be (best first; none when nothing is close).

    Deployments ("flow/deployment") are compared by their deployment part, so two names that
    share only "flow-" and "deploy-" are not close; a flow named right (or a bare flow name)
    offers that flow's deployments.
    """
    name = name.strip()
    if kind != "deployment":
        close = difflib.get_close_matches(name, known, n=SUGGESTIONS, cutoff=CLOSE)
        if close or len(name) < MIN_PART:
            return close
        return [k for k in known if name.lower() in k.lower()][:SUGGESTIONS]
    flow, _, deployment = name.rpartition("/")
    scored: list[tuple[float, str]] = []
    for full in known:
        known_flow, _, known_deployment = full.partition("/")
        same_flow = known_flow == (flow or deployment)
        score = _ratio(deployment, known_deployment)
        if same_flow or score >= CLOSE:
            scored.append((score + (0.5 if same_flow else 0.0), full))
    if not scored and len(deployment) >= MIN_PART:
        part = deployment.lower()
        scored = [(0.0, full) for full in known if part in full.lower()]
    scored.sort(key=lambda pair: -pair[0])  # stable: equal scores keep the known names' order
    # a clear match hides the also-rans (names made from one template are all a bit alike)
    best = scored[0][0] if scored else 0.0
    return [full for score, full in scored[:SUGGESTIONS] if score >= best - CLEAR_LEAD]


def unknown_name(kind: str, name: str, known: Sequence[str]) -> BadInput:
    close = close_names(kind, name, known)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if not known:
        hint = f" The server has no {kind}s."
    return BadInput(f"Unknown {kind} {name!r}.{hint}")
