"""State messages name runops, the verb, who and why."""

from __future__ import annotations

from runops.engine.messages import MAX_MESSAGE, state_message


def test_the_message_names_verb_actor_and_reason() -> None:
    assert (
        state_message("cancelled", "ana@example.com", "INC-4711 db failover")
        == "runops: cancelled by ana@example.com: INC-4711 db failover"
    )


def test_detail_and_missing_parts() -> None:
    assert (
        state_message("marked cancelled", detail="stuck in Cancelling")
        == "runops: marked cancelled (stuck in Cancelling)"
    )
    assert state_message("retried", "bob") == "runops: retried by bob"


def test_a_reason_on_several_lines_becomes_one_and_long_text_is_cut() -> None:
    assert state_message("moved", "", "INC-1\n  db down") == "runops: moved: INC-1 db down"
    assert len(state_message("moved", "a", "x" * 2000)) == MAX_MESSAGE
