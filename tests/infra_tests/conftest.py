"""Infra tests start their own PostgreSQL/Redis/scaled Prefect: only in the suites that need those."""

from __future__ import annotations

import pytest

from tests.infra.backends import backend_name


def needs_backend(*names: str) -> pytest.MarkDecorator:
    """Skip unless the suite runs on one of `names` (`make test-postgres` / `make test-scaled`)."""
    current = backend_name()
    return pytest.mark.skipif(
        current not in names, reason=f"runs with RUNOPS_TEST_BACKEND={'/'.join(names)} (now {current})"
    )
