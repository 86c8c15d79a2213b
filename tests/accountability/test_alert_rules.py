"""Each rule fires from the real event, through the real broker: a lockout, repeated
second-factor failures, a pixel-only policy violation, a sign-in outside usual hours, an
agent offline for long. Each is then mailed to the clinic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

import mamori_protocol as protocol
from broker.alerts.text import render
from broker.db.models import Alert
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, password_step, sign_in_client, signed_in
from devkit.sdp import VIEWER_OFFER
from mamori_protocol import Direction
from tests.accountability.test_alert_delivery import configure
from tests.support.agent_hello import say_hello
from tests.support.grants import add_grant
from tests.support.receivers import SmtpSink

pytestmark = pytest.mark.integration

WRONG = "Wrong#password1"


async def alerts_of(broker: RunningBroker, kind: str) -> list[Alert]:
    async with broker.db.session() as s:
        rows = await s.scalars(select(Alert).where(Alert.kind == kind).order_by(Alert.id))
        return list(rows)


async def alerts_about(broker: RunningBroker, kind: str, subject: str) -> list[Alert]:
    return [a for a in await alerts_of(broker, kind) if a.subject == subject]


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never met")


async def wait_for_alert(broker: RunningBroker, kind: str, timeout: float = 10) -> list[Alert]:
    deadline = time.monotonic() + timeout
    while not (found := await alerts_of(broker, kind)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} alert")
        await asyncio.sleep(0.05)
    return found


async def mail_to_director(alerting: RunningBroker, director: Person) -> None:
    async with signed_in(alerting, director) as admin:
        await configure(
            admin,
            mail_recipients=["inchou@clinic.test"],
            usual_hours_start="00:00",
            usual_hours_end="23:59",
            agent_offline_minutes=60,
        )


def wrong_code(person: Person, broker: RunningBroker) -> str:
    right = person.next_code(broker)
    return f"{(int(right) + 500_000) % 1_000_000:06d}"


async def test_a_lockout_raises_an_alert_and_mails_it(
    alerting: RunningBroker, director: Person, staff: Person, sink: SmtpSink
) -> None:
    """The failure that locks an account raises one lockout alert naming the person and
    the address; the director gets a mail saying so in plain Japanese."""
    await mail_to_director(alerting, director)
    async with alerting.http() as http:
        for _ in range(alerting.settings.lockout_threshold):
            await password_step(http, staff.username, WRONG)
        locked = await password_step(http, staff.username, WRONG)
    assert locked.status_code == 429
    (alert,) = await alerts_of(alerting, "lockout")
    assert alert.org_id == staff.org_id
    assert alert.severity == "warning"
    assert alert.subject == staff.username
    assert alert.facts["user"] == staff.username.title()  # the display name
    assert alert.facts["username"] == staff.username
    assert alert.facts["scopes"] == "account,source"
    assert alert.facts["source"] == "127.0.0.1"
    assert alert.facts["minutes"] == 15
    (mail,) = await sink.wait_for(1)
    who = f"{staff.username.title()}（{staff.username}）"
    subject = f"【要確認】{who} さんのアカウントをロックしました（さくら診療所）"
    assert mail.message["Subject"] == subject
    assert "15 分間サインインできないようにしました" in mail.message.get_content()


async def test_unknown_names_lock_without_telling_any_clinic(
    alerting: RunningBroker, director: Person
) -> None:
    """A name that belongs to no account locks like a real one, but no clinic is told."""
    async with alerting.http() as http:
        for _ in range(alerting.settings.lockout_threshold):
            await password_step(http, "nobody-here", WRONG)
    assert await alerts_of(alerting, "lockout") == []


async def test_repeated_second_factor_failures_raise_one_critical_alert(
    alerting: RunningBroker, director: Person, staff: Person, sink: SmtpSink
) -> None:
    """A right password followed by three wrong codes raises one critical alert; a fourth
    failure in the same window raises no other."""
    await mail_to_director(alerting, director)
    threshold = alerting.settings.alert_mfa_failures
    async with alerting.http() as http:
        first = await password_step(http, staff.username, staff.password)
        headers = {"X-CSRF-Token": first.json()["csrf_token"]}
        for attempt in range(threshold + 1):
            response = await http.post(
                "/api/login/totp", json={"code": wrong_code(staff, alerting)}, headers=headers
            )
            assert response.json()["error"] == "mfa_failed", attempt
            if attempt == threshold - 2:
                assert await alerts_of(alerting, "mfa_failures") == []
    (alert,) = await alerts_of(alerting, "mfa_failures")
    assert alert.severity == "critical"
    assert alert.facts["count"] == threshold
    assert alert.facts["window_minutes"] == 10
    (mail,) = await sink.wait_for(1)
    assert mail.message["Subject"].startswith("【至急】")
    assert "パスワードを他人に知られているおそれがあります" in mail.message.get_content()


async def test_a_policy_violation_raises_an_alert(
    alerting: RunningBroker,
    clinic: Org,
    director: Person,
    staff: Person,
    sink: SmtpSink,
    tmp_path: Path,
) -> None:
    """An agent reporting a foreign channel in a live session raises a critical alert
    naming the person, the PC and what was tried."""
    await add_grant(alerting, clinic, role="staff")  # clerks have no grant by default
    state = await enroll_agent(alerting, clinic, "uketsuke-pc", tmp_path / "agent", "受付PC")
    await mail_to_director(alerting, director)  # after the enrollment's own alert
    async with (
        connect(f"{alerting.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as agent,
        alerting.http() as http,
    ):
        await agent.send(protocol.encode(protocol.AgentHello("uketsuke-pc", "受付PC", "0.1.0")))
        viewer_user = await sign_in_client(alerting, http, staff)
        for _ in range(100):
            if (await http.get("/api/hosts")).json()["hosts"]:
                break
            await asyncio.sleep(0.05)
        ticket = await viewer_user.ticket("uketsuke-pc")
        async with connect(
            f"{alerting.wss_url}/ws/viewer?ticket={ticket}",
            ssl=alerting.client_ssl(),
            additional_headers={"Cookie": viewer_user.cookie_header()},
            origin=alerting.origin,  # type: ignore[arg-type]
        ) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin("uketsuke-pc")))
            start = protocol.parse(await agent.recv(), Direction.BROKER_TO_AGENT)
            assert isinstance(start, protocol.SessionStart)
            await viewer.send(protocol.encode(protocol.Offer(VIEWER_OFFER)))
            await agent.recv()
            await agent.send(
                protocol.encode(
                    protocol.Violation(
                        "foreign_channel", "channel 'files' refused", session_id=start.session_id
                    )
                )
            )
            (alert,) = await wait_for_alert(alerting, "policy_violation")
    assert alert.severity == "critical"
    assert alert.subject == "uketsuke-pc"
    assert alert.facts["host"] == "受付PC"
    assert alert.facts["violation"] == "foreign_channel"
    assert alert.facts["username"] == staff.username
    mail = await sink.wait_for_subject("受付PC")
    assert "画面と操作以外の通信路を開くこと" in mail.message.get_content()


async def test_a_sign_in_outside_usual_hours_raises_an_alert(
    alerting: RunningBroker, director: Person, staff: Person, sink: SmtpSink
) -> None:
    """With usual hours around now a sign-in raises nothing; with hours that exclude now
    (in the clinic's zone, Asia/Tokyo) the same sign-in raises one alert."""
    local = alerting.clock.now().astimezone(ZoneInfo("Asia/Tokyo"))

    def hhmm(delta_minutes: int) -> str:
        return f"{local + timedelta(minutes=delta_minutes):%H:%M}"

    async with signed_in(alerting, director) as admin:
        await configure(
            admin,
            mail_recipients=["inchou@clinic.test"],
            usual_hours_start=hhmm(-60),
            usual_hours_end=hhmm(60),
        )
        async with signed_in(alerting, staff):
            pass
        assert [
            a for a in await alerts_of(alerting, "outside_hours") if a.subject == staff.username
        ] == []
        await configure(
            admin,
            mail_recipients=["inchou@clinic.test"],
            usual_hours_start=hhmm(120),
            usual_hours_end=hhmm(180),
        )
        async with signed_in(alerting, staff):
            pass
    (alert,) = [
        a for a in await alerts_of(alerting, "outside_hours") if a.subject == staff.username
    ]
    assert alert.facts["usual_start"] == hhmm(120)
    assert alert.facts["usual_end"] == hhmm(180)
    mails = await sink.wait_for(1)
    assert any("時間外にサインインしました" in m.message["Subject"] for m in mails)


async def test_usual_hours_and_alert_times_follow_the_clinics_own_zone(
    alerting: RunningBroker, director: Person, staff: Person
) -> None:
    """A clinic in New York: usual hours around New York's now raise nothing (Tokyo's clock
    is 13-14 h away); hours around Tokyo's now raise the alert, shown in New York time."""
    now = alerting.clock.now()
    new_york, tokyo = (
        now.astimezone(ZoneInfo("America/New_York")),
        now.astimezone(ZoneInfo("Asia/Tokyo")),
    )

    def around(local: datetime) -> dict[str, str]:
        return {
            "usual_hours_start": f"{local - timedelta(minutes=60):%H:%M}",
            "usual_hours_end": f"{local + timedelta(minutes=60):%H:%M}",
        }

    async with signed_in(alerting, director) as admin:
        moved = await admin.http.put(
            "/api/admin/time-zone", json={"time_zone": "America/New_York"}, headers=admin.headers
        )
        assert moved.status_code == 200, moved.text
        await configure(admin, **around(new_york))
        async with signed_in(alerting, staff):
            pass
        assert await alerts_about(alerting, "outside_hours", staff.username) == []
        await configure(admin, **around(tokyo))
        async with signed_in(alerting, staff):
            pass
        assert len(await alerts_about(alerting, "outside_hours", staff.username)) == 1
        settings = (await admin.http.get("/api/admin/alerts/settings")).json()
        listed = (await admin.http.get("/api/admin/alerts")).json()["alerts"]
    assert settings["time_zone"] == "America/New_York"
    (shown,) = [
        a for a in listed if a["kind"] == "outside_hours" and a["subject"] == staff.username
    ]
    at = datetime.fromisoformat(shown["facts"]["at"]).astimezone(ZoneInfo("America/New_York"))
    assert f"at {at:%Y-%m-%d %H:%M} (America/New_York);" in shown["text"]["en"]["message"]


@pytest.mark.parametrize("alerting_overrides", [{"alert_check_s": 0.1}])
async def test_an_agent_offline_for_long_raises_one_alert(
    alerting: RunningBroker, clinic: Org, director: Person, sink: SmtpSink, tmp_path: Path
) -> None:
    """While its agent is connected a host is never offline, however long; once it is gone
    longer than the clinic's setting, the periodic check raises one alert, not one per
    check."""
    # Enrolled before mail is set up: the enrollment's own alert is not what this counts.
    state = await enroll_agent(alerting, clinic, "shinsatsu-pc", tmp_path / "agent", "診察室PC")
    async with signed_in(alerting, director) as admin:
        await configure(admin, mail_recipients=["inchou@clinic.test"], agent_offline_minutes=5)
    relay = alerting.app.state.relay
    async with connect(f"{alerting.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as agent:
        await agent.send(protocol.encode(protocol.AgentHello("shinsatsu-pc", "診察室PC", "0.1.0")))
        await until(lambda: bool(relay.online_hosts()))
        alerting.clock.advance(30 * 60)
        await asyncio.sleep(0.5)  # several checks
        assert await alerts_of(alerting, "agent_offline") == []
    await until(lambda: not relay.online_hosts())
    alerting.clock.advance(4 * 60)
    await asyncio.sleep(0.5)
    assert await alerts_of(alerting, "agent_offline") == []
    alerting.clock.advance(2 * 60)
    await wait_for_alert(alerting, "agent_offline")
    await asyncio.sleep(0.5)
    (alert,) = await alerts_of(alerting, "agent_offline")
    assert alert.subject == "shinsatsu-pc"
    assert alert.facts["host"] == "診察室PC"
    assert alert.facts["minutes"] == 5
    (mail,) = await sink.wait_for(1)
    subject = "【要確認】院内の端末「診察室PC」がつながっていません（さくら診療所）"
    assert mail.message["Subject"] == subject


async def test_enrolling_a_pc_raises_an_alert(
    alerting: RunningBroker, clinic: Org, director: Person, sink: SmtpSink, tmp_path: Path
) -> None:
    """A new agent enrollment is news the director should see (a stolen code would show
    up here as a PC nobody added)."""
    await mail_to_director(alerting, director)
    await enroll_agent(alerting, clinic, "kensa-pc", tmp_path / "agent", "検査室PC")
    (alert,) = await alerts_of(alerting, "agent_enrolled")
    assert (alert.org_id, alert.subject, alert.facts["host"]) == (clinic.id, "kensa-pc", "検査室PC")
    assert len(await sink.wait_for(1)) == 1


async def test_a_certificate_near_its_end_raises_one_alert(
    alerting: RunningBroker, clinic: Org, tmp_path: Path
) -> None:
    """An agent renews at a third of its certificate's life; one still live within 14 days
    of its end means renewal failed: one alert per certificate, none before, none again."""
    await enroll_agent(alerting, clinic, "kensa-pc", tmp_path / "agent", "検査室PC")
    checks = alerting.app.state.alerts.checks
    lifetime = alerting.settings.agent_cert_lifetime_s
    alerting.clock.advance(lifetime - 15 * 24 * 3600)  # 15 days left: nothing yet
    await checks.run_once()
    assert await alerts_of(alerting, "certificate_expiring") == []
    alerting.clock.advance(2 * 24 * 3600)  # 13 days left
    await checks.run_once()
    await checks.run_once()
    (alert,) = await alerts_of(alerting, "certificate_expiring")
    assert (alert.org_id, alert.subject, alert.facts["host"]) == (clinic.id, "kensa-pc", "検査室PC")


async def test_an_outdated_agent_raises_one_alert_per_version(
    alerting: RunningBroker, clinic: Org, director: Person, sink: SmtpSink, tmp_path: Path
) -> None:
    """An agent older than the broker alerts when it connects: once for that host and
    version, not on every reconnect; a still-older update alerts again; an agent as new as
    the broker alerts nothing. Two links of the same host saying hello at once alert once."""
    state = await enroll_agent(alerting, clinic, "kensa-pc", tmp_path / "agent", "検査室PC")
    await mail_to_director(alerting, director)
    alerting.app.state.version = "2.0.0"
    for _ in range(3):
        await say_hello(alerting, state, "kensa-pc", "1.0.0", "検査室PC")
    (alert,) = await alerts_of(alerting, "agent_outdated")
    assert (alert.org_id, alert.subject) == (clinic.id, "kensa-pc")
    assert alert.severity == "warning"
    assert (alert.facts["version"], alert.facts["broker_version"]) == ("1.0.0", "2.0.0")
    (mail,) = await sink.wait_for(1)
    subject = "【要確認】院内の端末「検査室PC」のエージェントが古いままです（さくら診療所）"
    assert mail.message["Subject"] == subject

    await say_hello(alerting, state, "kensa-pc", "2.0.0", "検査室PC")
    await say_hello(
        alerting, state, "kensa-pc", "10.0.0", "検査室PC"
    )  # newer: compared as versions
    assert len(await alerts_of(alerting, "agent_outdated")) == 1

    # Two links of the host at once with a new, still older version: one alert between them.
    relay = alerting.app.state.relay
    async with (
        connect(f"{alerting.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as first,
        connect(f"{alerting.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as second,
    ):
        hello = protocol.encode(protocol.AgentHello("kensa-pc", "検査室PC", "1.5.0"))
        await asyncio.gather(first.send(hello), second.send(hello))
        # The later hello replaces the earlier link, so one socket closes once both are in.
        closed = [asyncio.ensure_future(ws.wait_closed()) for ws in (first, second)]
        done, pending = await asyncio.wait(closed, timeout=10, return_when="FIRST_COMPLETED")
        for waiting in pending:
            waiting.cancel()
        assert done, "neither link was replaced"
        await until(lambda: any(link.version == "1.5.0" for link in relay.agents()))
    alerts = await alerts_of(alerting, "agent_outdated")
    assert [a.facts["version"] for a in alerts] == ["1.0.0", "1.5.0"]
    english = render("agent_outdated", alerts[1].facts, "Asia/Tokyo", "en")
    assert english.title == "The agent on clinic PC 検査室PC is out of date"
    assert "(1.5.0) is older than the server (2.0.0)" in english.message
