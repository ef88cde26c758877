"""Shared fixtures. Tests are marked by folder: unit (none), integration, assets, e2e."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from core.layout import DataLayout
from features.store import DEFAULT_REDIS_PORT, start_redis_hint

REDIS_HOST = "127.0.0.1"
REDIS_PORT = int(os.environ.get("PREDMAINT_TEST_REDIS_PORT", str(DEFAULT_REDIS_PORT)))
"""Another port lets several checkouts run their suites side by side, each against its own redis-server."""
REDIS_TEST_DB = 13
"""Tests use this Redis database number only, and flush only it."""
START_REDIS_HINT = start_redis_hint(REDIS_PORT)

_MARK_BY_FOLDER = {"integration": "integration", "assets": "assets", "e2e": "e2e"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        folder = Path(str(item.fspath)).relative_to(tests_dir).parts[0]
        if folder in _MARK_BY_FOLDER:
            item.add_marker(getattr(pytest.mark, _MARK_BY_FOLDER[folder]))


def redis_reachable(host: str = REDIS_HOST, port: int = REDIS_PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis on loopback. Skips locally with instructions; fails under CI (CI is set)."""
    if not redis_reachable():
        message = f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}; {START_REDIS_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_TEST_DB).flushdb()
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_TEST_DB}"


@pytest.fixture
def layout(tmp_path: Path) -> DataLayout:
    """An empty local data directory for one test."""
    return DataLayout(tmp_path / "predmaint")
