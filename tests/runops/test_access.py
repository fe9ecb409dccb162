"""The operators allow-list, read-only mode and required reasons, as the service layer enforces them."""

from __future__ import annotations

import pytest

from runops.access import AccessPolicy, ensure_may_apply, ensure_reason, reason_required
from runops.errors import BadInput, NotAllowed


def test_everyone_may_act_without_a_list() -> None:
    assert AccessPolicy().refusal("local:root") is None


def test_operators_by_email_domain_and_os_user() -> None:
    policy = AccessPolicy.from_env({"RUNOPS_OPERATORS": "ana@example.com, @ops.example.org; os:alice"})
    assert policy.is_operator("Ana@Example.com")
    assert policy.is_operator("bob@ops.example.org")
    assert policy.is_operator("os:alice")
    assert not policy.is_operator("bob@example.com")
    assert not policy.is_operator("eve@evil-ops.example.org")
    assert not policy.is_operator("os:bob")
    assert "not an operator" in (policy.refusal("bob@example.com") or "")


def test_plain_domain_entry() -> None:
    policy = AccessPolicy.from_env({"RUNOPS_OPERATORS": "example.com"})
    assert policy.is_operator("x@example.com")
    assert not policy.is_operator("x@sub.example.com.evil")


def test_read_only_refuses_everyone() -> None:
    with pytest.raises(NotAllowed, match="read-only"):
        ensure_may_apply("ana@example.com", {"RUNOPS_READ_ONLY": "1", "RUNOPS_OPERATORS": "ana@example.com"})


def test_a_required_reason_must_say_something() -> None:
    required = {"RUNOPS_REQUIRE_REASON": "true"}
    assert (
        reason_required(required)
        and not reason_required({})
        and not reason_required({"RUNOPS_REQUIRE_REASON": "0"})
    )
    ensure_reason("", {})  # not required: nothing to say is fine
    ensure_reason("INC-4711", required)
    with pytest.raises(BadInput, match=r"RUNOPS_REQUIRE_REASON\): add --reason TEXT; nothing was changed"):
        ensure_reason(" \n ", required, how="add --reason TEXT")
