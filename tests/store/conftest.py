"""A redis-server per test session (tests/redisserver.py); each test gets an empty database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redisserver import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if not redis_server.answers():  # a test that killed it gets it back for the next
        redis_server.start()
    assert redis_server.command("FLUSHALL").startswith(b"+OK")
    return redis_server.url
