"""API tests run against a real broker on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from devkit.broker import RunningBroker
from devkit.identity import Org, Person, make_org, make_person


@pytest.fixture
async def clinic(any_broker: RunningBroker) -> Org:
    return await make_org(any_broker, "さくら診療所")


@pytest.fixture
async def person(any_broker: RunningBroker, clinic: Org) -> Person:
    return await make_person(any_broker, clinic, "doctor")


@pytest.fixture
async def admin(any_broker: RunningBroker, clinic: Org) -> Person:
    return await make_person(any_broker, clinic, "admin")
