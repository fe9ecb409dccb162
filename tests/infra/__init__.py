"""Database infrastructure for tests and benchmarks: PostgreSQL, Redis, scaled-out Prefect."""

from __future__ import annotations

from tests.infra.postgres import postgres_cluster, postgres_server
from tests.infra.redis import redis_server
from tests.infra.scaled import scaled_prefect

__all__ = ["postgres_cluster", "postgres_server", "redis_server", "scaled_prefect"]
