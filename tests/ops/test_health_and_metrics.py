"""/healthz, /readyz and /metrics on a real broker: readiness flips when its own PostgreSQL
database or its own Redis goes away (and back), metrics need the bearer token and expose the
figures a vendor watches, counted from committed audit records only."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text
from websockets.asyncio.client import connect

import mamori_protocol as protocol
from broker.audit import ledger as audit_ledger
from broker.audit.record import Actor, Event, Outcome, record
from broker.db.models import AuditEvent
from certs.authority import ServerFiles
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker, running_broker
from devkit.databases import create_postgres_database, drop_postgres_database, sqlite_url
from devkit.identity import make_org, make_person, password_step, signed_in
from tests.conftest import HOST_ID

pytestmark = pytest.mark.integration

TOKEN = "metrics-token-for-tests-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ready(broker: RunningBroker) -> tuple[int, dict[str, bool]]:
    async with broker.http() as http:
        response = await http.get("/readyz")
    return response.status_code, response.json()["checks"]


async def poll_ready(broker: RunningBroker, want: int) -> dict[str, bool]:
    for _ in range(100):
        status, checks = await ready(broker)
        if status == want:
            return checks
        await asyncio.sleep(0.1)
    raise AssertionError(f"/readyz never answered {want}")


@pytest.mark.postgres
async def test_readiness_flips_with_its_postgres_database(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """Ready on its own PostgreSQL database; the database gone (dropped, its connections
    cut): 503 naming the database, while /healthz (the process) still answers 200."""
    url = await create_postgres_database()
    try:
        async with running_broker(server_certs, url) as broker:
            status, checks = await ready(broker)
            assert (status, checks) == (
                200,
                {"database": True, "migrations": True, "audit_key": True},
            )
            await drop_postgres_database(url)
            checks = await poll_ready(broker, 503)
            assert checks["database"] is False
            async with broker.http() as http:
                assert (await http.get("/healthz")).status_code == 200
    finally:
        await drop_postgres_database(url)


async def test_redis_back_on_its_port_makes_the_broker_ready_again(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """Redis stopped and started again on the same port: not ready, then ready again."""
    port = free_port()
    argv = ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        async with running_broker(
            server_certs, sqlite_url(tmp_path), redis_url=f"redis://127.0.0.1:{port}/6"
        ) as broker:
            await poll_ready(broker, 200)
            first.terminate()
            first.wait(10)
            assert (await poll_ready(broker, 503))["redis"] is False
            second = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
            try:
                assert (await poll_ready(broker, 200))["redis"] is True
            finally:
                second.terminate()
                second.wait(10)
    finally:
        if first.poll() is None:
            first.terminate()
            first.wait(10)


async def test_migrations_behind_head_make_the_broker_not_ready(broker: RunningBroker) -> None:
    """A database whose schema revision is not this code's newest is not ready."""
    await poll_ready(broker, 200)
    async with broker.db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    checks = await poll_ready(broker, 503)
    assert checks == {"database": True, "migrations": False, "audit_key": True}


async def test_an_unreadable_audit_key_makes_the_broker_not_ready(
    broker: RunningBroker,
) -> None:
    """The audit signing key gone from disk: not ready (new checkpoints could not be signed)."""
    broker.settings.audit_key_path.rename(broker.settings.audit_key_path.with_suffix(".moved"))
    checks = await poll_ready(broker, 503)
    assert checks["audit_key"] is False


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(broker: RunningBroker, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with broker.http() as http:
        return await http.get("/metrics", headers=headers)


async def test_metrics_do_not_exist_without_a_token(broker: RunningBroker) -> None:
    """No MAMORI_METRICS_TOKEN: /metrics is 404 (not the web client's page either)."""
    assert (await scrape(broker)).status_code == 404
    assert (await scrape(broker, None)).status_code == 404


@pytest.mark.parametrize("broker", [{"metrics_token": TOKEN}], indirect=True)
async def test_metrics_need_the_bearer_token(broker: RunningBroker) -> None:
    """Without the token or with another one: 401; with it: the text format."""
    assert (await scrape(broker, None)).status_code == 401
    assert (await scrape(broker, "x" * len(TOKEN))).status_code == 401
    response = await scrape(broker)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "broker", [{"metrics_token": TOKEN, "lockout_threshold": 2}], indirect=True
)
async def test_metrics_expose_agents_sessions_logins_lockouts_and_refusals(
    broker: RunningBroker, tmp_path: Path
) -> None:
    """An agent online, a sign-in (two steps), a lockout, committed session records (a
    rolled-back one is not counted), the outbox and the checkpoint age all show."""
    org = await make_org(broker)
    person = await make_person(broker, org)
    state = await enroll_agent(broker, org, HOST_ID, tmp_path / "agent")
    async with signed_in(broker, person):
        pass
    victim = await make_person(broker, org)
    async with broker.http() as http:
        for _ in range(2):
            await password_step(http, victim.username, "Wrong#password1")
    now = broker.clock.now()
    actor = Actor("test", person.user_id, org.id, person.username)
    async with broker.db.session() as s:
        record(s, actor, Event.SESSION_STARTED, Outcome.SUCCESS, now, detail="host=a session=x")
        record(
            s,
            actor,
            Event.SESSION_REFUSED,
            Outcome.DENIED,
            now,
            detail="host=a reason=no_grant at=ticket",
        )
        record(s, actor, Event.SESSION_REFUSED, Outcome.DENIED, now, detail="device_revoked host=a")
        await s.commit()
    async with broker.db.session() as s:
        record(s, actor, Event.SESSION_STARTED, Outcome.SUCCESS, now, detail="never committed")
        await s.flush()
        await s.rollback()
    await audit_ledger.checkpoint_moved_chains(
        broker.db.sessions, broker.app.state.audit_signer, broker.clock.now()
    )
    relay = broker.app.state.relay
    async with connect(f"{broker.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as ws:
        await ws.send(protocol.encode(protocol.AgentHello(HOST_ID, "pc", "0.1.0")))
        for _ in range(200):
            if relay.agent(org.id, HOST_ID) is not None:
                break
            await asyncio.sleep(0.02)
        got = samples((await scrape(broker)).text)
    r = (("replica", "broker"),)
    assert got[("mamori_agents_online", r)] == 1
    assert got[("mamori_live_sessions", r)] == 0
    assert got[("mamori_session_setups_total", r)] == 1
    assert got[("mamori_session_refusals_total", (("reason", "no_grant"), *r))] == 1
    assert got[("mamori_session_refusals_total", (("reason", "device_revoked"), *r))] == 1

    def logins(step: str, outcome: str) -> float:
        labels = (("outcome", outcome), ("replica", "broker"), ("step", step))
        return got[("mamori_logins_total", labels)]

    assert logins("password", "success") == 1
    assert logins("second_factor", "success") == 1
    assert logins("password", "failure") == 2
    async with broker.db.session() as s:
        locks = await s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "lockout")
        )
    assert locks  # the account's lock, and the source address's
    assert got[("mamori_lockouts_total", r)] == locks
    assert got[("mamori_alert_outbox_depth", r)] >= 0
    assert ("mamori_agent_handshakes_deferred_total", r) in got
    assert got[("mamori_agent_connections_parked", r)] == 0
    assert got[("mamori_agent_connections_closed_before_tls_total", r)] == 0
    # The checkpoint just signed has an age now.
    assert got[("mamori_audit_checkpoint_age_seconds", r)] >= 0
