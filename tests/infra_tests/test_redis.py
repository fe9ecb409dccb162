"""The throwaway Redis: answers PING on its free port, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from tests.infra.procs import processes_in_groups
from tests.infra.redis import redis_server
from tests.infra_tests.conftest import needs_backend

pytestmark = needs_backend("postgres", "scaled")


def test_redis_answers_and_stops_cleanly() -> None:
    with redis_server() as redis:
        assert redis.ping()
        group = redis.proc.pid
        root = Path(redis.proc.args[redis.proc.args.index("--dir") + 1])
        assert root.exists()
        assert processes_in_groups([group])
    assert processes_in_groups([group]) == {}
    assert not redis.ping()
    assert not root.exists()
