"""Alerts reach people: mail to a real SMTP sink, signed webhooks to a real local receiver,
retried with backoff until taken exactly once, never holding up the request that raised
them, and still sent after the broker restarts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from broker.alerts.channels import DELIVERY_HEADER
from broker.db.models import AlertDelivery
from certs.authority import ServerFiles
from devkit.broker import RunningBroker, random_secret_key, running_broker
from devkit.databases import sqlite_url
from devkit.identity import Person, SignedIn, make_org, make_person, password_step, signed_in
from tests.accountability.conftest import alerting_settings
from tests.support.receivers import SmtpSink, WebhookReceiver, black_hole, webhook_receiver

pytestmark = pytest.mark.integration


async def configure(admin: SignedIn, **settings: Any) -> dict[str, Any]:
    body = {
        "mail_recipients": [],
        "webhook_url": None,
        "usual_hours_start": None,
        "usual_hours_end": None,
        "agent_offline_minutes": None,
        **settings,
    }
    response = await admin.http.put("/api/admin/alerts/settings", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    saved: dict[str, Any] = response.json()
    return saved


async def connect_webhook(admin: SignedIn, receiver: WebhookReceiver) -> None:
    """Point the clinic's webhook at ``receiver`` and give it the secret shown once."""
    secret = (await configure(admin, webhook_url=receiver.url))["webhook_secret"]
    receiver.secret = secret.encode()


async def deliveries(broker: RunningBroker) -> list[AlertDelivery]:
    async with broker.db.session() as s:
        return list(await s.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))


async def wait_delivered(broker: RunningBroker, count: int, timeout: float = 15) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await deliveries(broker)
        if len(rows) >= count and all(d.state != "pending" for d in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError([(d.channel, d.state, d.attempts, d.last_error) for d in rows])
        await asyncio.sleep(0.05)


async def test_test_alert_is_mailed_in_plain_japanese(
    alerting: RunningBroker, director: Person, sink: SmtpSink
) -> None:
    """A test alert reaches every recipient in one UTF-8 mail whose subject and body say
    what happened in Japanese (and English below); the console shows it delivered."""
    async with signed_in(alerting, director) as admin:
        await configure(admin, mail_recipients=["inchou@clinic.test", " Jimu@Clinic.Test "])
        sent = await admin.post("/api/admin/alerts/test")
        assert sent.status_code == 201, sent.text
        (mail,) = await sink.wait_for(1)
        assert sorted(mail.recipients) == ["Jimu@clinic.test", "inchou@clinic.test"]
        assert mail.mail_from == "mamori@clinic.test"
        message = mail.message
        assert message["Subject"] == "【お知らせ】テスト通知（さくら診療所）"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-Mamori-Alert"] == str(sent.json()["id"])
        body = message.get_content()
        assert "さくら診療所 の管理者さまへ" in body
        assert f"{director.username.title()}（{director.username}） さんが送ったテスト通知" in body
        assert "Test alert" in body
        assert "/#/admin/alerts" in body
        (row,) = await wait_delivered(alerting, 1)
        assert (row.channel, row.state, row.attempts) == ("mail", "delivered", 1)
        listed = (await admin.http.get("/api/admin/alerts")).json()
        assert listed["alerts"][0]["deliveries"][0]["state"] == "delivered"
        assert listed["alerts"][0]["text"]["ja"]["title"] == "テスト通知"


async def test_webhook_is_signed_and_the_secret_shown_once(
    alerting: RunningBroker, director: Person, receiver: WebhookReceiver
) -> None:
    """The first webhook URL gets a secret, returned once; the receiver verifies the HMAC
    over timestamp and body and gets the alert as JSON with plain words."""
    async with signed_in(alerting, director) as admin:
        saved = await configure(admin, webhook_url=receiver.url)
        secret = saved["webhook_secret"]
        assert isinstance(secret, str)
        assert len(secret) >= 43
        assert saved["settings"]["webhook_secret_set"] is True
        shown = (await admin.http.get("/api/admin/alerts/settings")).text
        assert secret not in shown
        again = await configure(admin, webhook_url=receiver.url)
        assert again["webhook_secret"] is None  # unchanged URL: the same secret, not shown
        receiver.secret = secret.encode()
        alert_id = (await admin.post("/api/admin/alerts/test")).json()["id"]
        (request,) = await receiver.wait_for(1)
        assert request.signature_ok
        assert request.status == 200
        payload = request.json
        assert payload["alert_id"] == alert_id
        assert payload["kind"] == "test"
        assert payload["severity"] == "info"
        assert payload["organization"] == "さくら診療所"
        assert payload["title"] == "テスト通知"
        assert payload["console_url"].endswith("/#/admin/alerts")
        assert request.headers["User-Agent"].startswith("Mamori-Alerts/")
        (row,) = await wait_delivered(alerting, 1)
        assert request.headers[DELIVERY_HEADER] == str(row.id)
        assert row.state == "delivered"


async def test_receiver_failing_twice_then_succeeding_gets_it_exactly_once(
    alerting: RunningBroker, director: Person, receiver: WebhookReceiver
) -> None:
    """Two 5xx answers are retried with backoff; the third attempt is taken, and nothing is
    sent after that."""
    async with signed_in(alerting, director) as admin:
        await connect_webhook(admin, receiver)
        receiver.plan = [500, 503]
        await admin.post("/api/admin/alerts/test")
        await receiver.wait_for(3)
        (row,) = await wait_delivered(alerting, 1)
    assert (row.state, row.attempts, row.last_error) == ("delivered", 3, None)
    await asyncio.sleep(1.0)  # several poll intervals and more than the longest backoff
    assert [r.status for r in receiver.requests] == [500, 503, 200]
    assert len(receiver.accepted) == 1
    assert {r.headers[DELIVERY_HEADER] for r in receiver.requests} == {str(row.id)}
    stamps = [int(r.headers["X-Mamori-Timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps)


async def test_a_receiver_that_never_takes_it_is_given_up_and_audited(
    alerting: RunningBroker, director: Person, receiver: WebhookReceiver
) -> None:
    """After the last attempt the delivery is failed, its error kept for the console, and
    the giving up audited."""
    async with signed_in(alerting, director) as admin:
        await connect_webhook(admin, receiver)
        receiver.plan = [500] * 100
        await admin.post("/api/admin/alerts/test")
        (row,) = await wait_delivered(alerting, 1)
        assert (row.state, row.attempts) == ("failed", alerting.settings.alert_max_attempts)
        assert row.last_error == "webhook answered HTTP 500"
        assert len(receiver.requests) == alerting.settings.alert_max_attempts
        trail = (await admin.http.get("/api/admin/audit")).json()
        assert any(e["event"] == "alert_delivery_failed" for e in trail)


@pytest.mark.parametrize("hang", ["webhook", "mail"])
async def test_the_request_raising_an_alert_does_not_wait_for_a_hanging_receiver(
    server_certs: ServerFiles, tmp_path: Path, sink: SmtpSink, hang: str
) -> None:
    """A lockout whose alert goes to a receiver that never answers (a webhook that sleeps,
    an SMTP port that never greets) returns at once; the broker keeps answering."""
    timeout_s = 3.0
    with black_hole() as dead_port:
        overrides = {"alert_webhook_timeout_s": timeout_s}
        if hang == "mail":
            overrides["smtp_port"] = dead_port
        async with (
            webhook_receiver(WebhookReceiver(delay_s=30)) as slow,
            running_broker(
                server_certs, sqlite_url(tmp_path), **alerting_settings(sink, **overrides)
            ) as broker,
        ):
            org = await make_org(broker, "遅い受信先の診療所")
            director = await make_person(broker, org, "admin")
            doctor = await make_person(broker, org, "doctor")
            async with signed_in(broker, director) as admin:
                if hang == "mail":
                    await configure(admin, mail_recipients=["inchou@clinic.test"])
                else:
                    await connect_webhook(admin, slow)
                async with broker.http() as http:
                    for _ in range(broker.settings.lockout_threshold - 1):
                        await password_step(http, doctor.username, "Wrong#password1")
                    began = time.monotonic()
                    last = await password_step(http, doctor.username, "Wrong#password1")
                    took = time.monotonic() - began
                assert last.status_code == 401
                assert took < 1.5, took
                # The alert is being delivered (claimed, in flight) while the page still answers.
                await asyncio.sleep(0.5)
                began = time.monotonic()
                listed = await admin.http.get("/api/admin/alerts")
                assert time.monotonic() - began < 1.5
                lockout = next(a for a in listed.json()["alerts"] if a["kind"] == "lockout")
                assert lockout["deliveries"][0]["state"] == "pending"
                assert lockout["deliveries"][0]["attempts"] == 1


async def test_pending_deliveries_survive_a_restart(
    server_certs: ServerFiles, tmp_path: Path, sink: SmtpSink, receiver: WebhookReceiver
) -> None:
    """An alert the receiver refused while one broker ran is delivered by the next broker
    on the same database (the outbox is in the database, the secret opens with the key)."""
    url, key = sqlite_url(tmp_path), random_secret_key()
    settings = alerting_settings(sink, secret_key=key)
    receiver.plan = [503] * 1000
    async with running_broker(server_certs, url, **settings) as first:
        org = await make_org(first, "再起動診療所")
        director = await make_person(first, org, "admin", "restart-director")
        async with signed_in(first, director) as admin:
            await connect_webhook(admin, receiver)
            await admin.post("/api/admin/alerts/test")
            await receiver.wait_for(1)
        (row,) = await deliveries(first)
        assert row.state == "pending"
    refused = len(receiver.requests)
    assert refused >= 1
    assert receiver.accepted == []
    receiver.plan = []
    async with running_broker(server_certs, url, **settings) as second:
        (row,) = await wait_delivered(second, 1)
    assert row.state == "delivered"
    assert len(receiver.accepted) == 1
    assert len(receiver.requests) == refused + 1
