"""Fixtures of the ingest worker tests: Azurite on loopback, a file-backed fake Event Hubs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ingest_fakes import start_azurite


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service (a real Azure Storage emulator); yields its connection string."""
    with start_azurite(tmp_path_factory.mktemp("azurite")) as connection_string:
        yield connection_string
