"""The operators allow-list and read-only mode, as the service layer enforces them."""

from __future__ import annotations

import pytest

from runops.access import AccessPolicy, ensure_may_apply
from runops.errors import NotAllowed


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
