"""A broker that sends its alerts to a real SMTP sink and may post to a real local webhook
receiver, with retries shortened so a test sees several attempts in a second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from certs.authority import ServerFiles
from devkit.broker import RunningBroker, running_broker
from devkit.databases import BACKENDS, database_url
from devkit.identity import Org, Person, make_org, make_person
from tests.support.receivers import SmtpSink, WebhookReceiver, smtp_sink, webhook_receiver

# Poll often and retry after ~0.1-0.2 s, so "fails twice then succeeds" takes under a second.
ALERTING: dict[str, Any] = {
    "smtp_host": "127.0.0.1",
    "smtp_from": "mamori@clinic.test",
    "smtp_starttls": False,
    "alert_poll_s": 0.05,
    "alert_retry_base_s": 0.2,
    "alert_retry_max_s": 1.0,
    "alert_webhook_timeout_s": 3.0,
    "alert_webhook_loopback_http": True,
    "alert_check_s": 3600.0,
}


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with smtp_sink() as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as running:
        yield running


def alerting_settings(sink: SmtpSink, **overrides: Any) -> dict[str, Any]:
    return {**ALERTING, "smtp_port": sink.port, **overrides}


@pytest.fixture
def alerting_overrides() -> dict[str, Any]:
    """More broker settings for ``alerting``; a test parametrizes this name to change them."""
    return {}


@pytest.fixture(params=BACKENDS)
async def alerting(
    request: pytest.FixtureRequest,
    server_certs: ServerFiles,
    tmp_path: Path,
    sink: SmtpSink,
    alerting_overrides: dict[str, Any],
) -> AsyncIterator[RunningBroker]:
    """A broker mailing ``sink``, on SQLite and on PostgreSQL."""
    settings = alerting_settings(sink, **alerting_overrides)
    async with (
        database_url(request.param, tmp_path) as url,
        running_broker(server_certs, url, **settings) as running,
    ):
        yield running


@pytest.fixture
async def clinic(alerting: RunningBroker) -> Org:
    return await make_org(alerting, "さくら診療所")


@pytest.fixture
async def director(alerting: RunningBroker, clinic: Org) -> Person:
    """The clinic's admin (its director)."""
    return await make_person(alerting, clinic, "admin", f"director-{clinic.id}")


@pytest.fixture
async def staff(alerting: RunningBroker, clinic: Org) -> Person:
    return await make_person(alerting, clinic, "staff", f"clerk-{clinic.id}")
