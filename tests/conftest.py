"""Fixtures shared by every tier: a real CA per test session, real brokers on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certs.authority import ServerFiles
from tests.support.broker import RunningBroker, make_certs, running_broker


@pytest.fixture(scope="session")
def server_certs(tmp_path_factory: pytest.TempPathFactory) -> ServerFiles:
    """A CA and a broker certificate for 127.0.0.1, made once per test session."""
    return make_certs(Path(tmp_path_factory.mktemp("certs")))


@pytest.fixture
async def broker(server_certs: ServerFiles) -> AsyncIterator[RunningBroker]:
    """A real broker on uvicorn, TLS 1.3, on a free port."""
    async with running_broker(server_certs) as running:
        yield running
