"""A real broker process stopped with SIGTERM or killed with SIGKILL mid-session (issue 18):

- SIGTERM keeps the live session for re-adoption (no end is recorded, its row says
  ``broker_shutdown``, never ``viewer_left``), and the process exits within a few seconds
  though an idle keep-alive client never answers TLS close_notify (asyncio alone would wait
  30 s for it); started again, a session no agent re-registered ends as ``broker_shutdown``;
- after SIGKILL the audit holds a start without an end; the broker, started again, records
  the end as ``broker_crashed``, and the agent (which never stopped) comes back on its own.

Here the viewer never set up media, so there is nothing to re-adopt
(``MAMORI_SESSION_RESUME_S=0``: closed at start); the survival of a live picture is
tests/e2e/test_restart_survival.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

import mamori_protocol as protocol
from broker.config import Settings
from broker.db.models import AuditEvent, OpenSession
from broker.server.app import create_app
from certs.authority import ServerFiles
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker, random_secret_key
from devkit.databases import BACKENDS, database_url
from devkit.identity import make_org, make_person, signed_in
from host_agent.link.backoff import Backoff
from host_agent.link.broker_link import BrokerLink, LinkSettings
from host_agent.webrtc.peer_session import StreamSettings
from tests.conftest import HOST_ID

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 2


class NoInput:
    def close(self) -> None:
        return None


@dataclass
class Deployment:
    """What a broker process needs, and an in-test app over the same database and keys
    (never served) through which the test sets up people and reads the audit."""

    env: dict[str, str]
    settings: Settings
    certs: ServerFiles


def deployment(certs: ServerFiles, url: str, data_dir: Path) -> Deployment:
    key = random_secret_key()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")},
        "MAMORI_ENV": "production",
        "MAMORI_SECRET_KEY": key,
        "MAMORI_TLS_CERT": str(certs.server_cert),
        "MAMORI_TLS_KEY": str(certs.server_key),
        "MAMORI_DATABASE_URL": url,
        "MAMORI_DATA_DIR": str(data_dir),
        "MAMORI_HOST": "127.0.0.1",
        "MAMORI_PORT": "0",
        "MAMORI_AGENT_PORT": "0",
        "MAMORI_SHUTDOWN_GRACE_S": str(GRACE_S),
        "MAMORI_SESSION_RESUME_S": "0",
    }
    return Deployment(env, Settings.from_env(env), certs)


@dataclass
class Process:
    process: asyncio.subprocess.Process
    facade: RunningBroker


@contextlib.asynccontextmanager
async def broker_process(d: Deployment, facade_app: object) -> AsyncIterator[Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker", "serve", cwd=ROOT, env=d.env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        ports: list[int] = []
        async with asyncio.timeout(60):
            while len(ports) < 2:  # the browser port, then the agent port
                line = (await process.stderr.readline()).decode()
                if not line:
                    raise AssertionError("the broker exited before it listened")
                found = re.search(r"Uvicorn running on https://127\.0\.0\.1:(\d+)", line)
                if found:
                    ports.append(int(found.group(1)))
        drain = asyncio.create_task(process.stderr.read())  # keep its pipe from filling
        facade = RunningBroker(facade_app, d.settings, ports[0], d.certs, ports[1])  # type: ignore[arg-type]
        yield Process(process, facade)
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def ended_records(facade: RunningBroker, session_id: str) -> list[AuditEvent]:
    async with facade.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(
                AuditEvent.event == "session_ended",
                AuditEvent.detail.contains(f"session={session_id}"),
            )
        )
        return list(rows)


async def open_session_ids(facade: RunningBroker) -> list[str]:
    async with facade.db.session() as s:
        return list(await s.scalars(select(OpenSession.session_id)))


async def wait_for_value(probe: object, timeout_s: float = 20) -> object:
    async with asyncio.timeout(timeout_s):
        while True:
            value = await probe()  # type: ignore[operator]
            if value:
                return value
            await asyncio.sleep(0.05)


def idle_keep_alive_client(port: int, ca: Path) -> socket.socket:
    """A TLS client that asks one thing with keep-alive and then never reads or closes:
    it will answer no close_notify."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    context = ssl.create_default_context(cafile=str(ca))
    tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
    tls.sendall(b"GET /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
    assert tls.recv(4096).startswith(b"HTTP/1.1 200")
    return tls


@contextlib.asynccontextmanager
async def live_session(p: Process, tmp_path: Path) -> AsyncIterator[tuple[BrokerLink, str]]:
    """An enrolled agent linked to the broker process and a viewer joined to it (the
    session is on record as started); the agent keeps running on exit of the block."""
    org = await make_org(p.facade)
    person = await make_person(p.facade, org)
    state = await enroll_agent(p.facade, org, HOST_ID, tmp_path / "agent", "診察室1")
    link = BrokerLink(
        LinkSettings(p.facade.agent_wss_url, HOST_ID, "診察室1", state.ssl_context),
        StreamSettings(display=":0"),
        NoInput(),  # type: ignore[arg-type]
        backoff=Backoff(base_s=0.2, cap_s=1.0),
    )
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 20)
        async with signed_in(p.facade, person) as user:
            ticket = await user.ticket(HOST_ID)
            async with connect(
                f"{p.facade.wss_url}/ws/viewer?ticket={ticket}",
                ssl=p.facade.client_ssl(),
                additional_headers={"Cookie": user.cookie_header()},
                origin=p.facade.origin,  # type: ignore[arg-type]
            ) as viewer:
                await viewer.send(protocol.encode(protocol.ViewerJoin(HOST_ID)))
                ids = await wait_for_value(lambda: open_session_ids(p.facade))
                assert isinstance(ids, list)
                assert len(ids) == 1
                yield link, ids[0]
    finally:
        await link.stop()
        await asyncio.wait_for(task, 20)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigterm_keeps_live_sessions_for_readoption_and_exits_in_time(
    backend: str, server_certs: ServerFiles, tmp_path: Path
) -> None:
    """SIGTERM with a live session and an idle keep-alive client that never answers
    close_notify: no end is recorded (never viewer_left), the session's row says
    broker_shutdown, and the process exits within the grace period and a margin; started
    again, the session no agent re-registered is ended as broker_shutdown."""
    async with database_url(backend, tmp_path) as url:
        d = deployment(server_certs, url, tmp_path / "data")
        facade_app = create_app(d.settings)
        await facade_app.state.db.migrate()
        try:
            async with broker_process(d, facade_app) as p, live_session(p, tmp_path) as (_, sid):
                idle = await asyncio.to_thread(
                    idle_keep_alive_client, p.facade.port, server_certs.ca_cert
                )
                try:
                    started = time.monotonic()
                    p.process.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(p.process.wait(), 60)
                    took = time.monotonic() - started
                finally:
                    idle.close()
                print(f"{backend}: SIGTERM to exit {took:.2f} s (grace {GRACE_S} s)")
                # uvicorn re-raises the signal once it has stopped cleanly (systemd counts
                # an exit by SIGTERM as clean).
                assert p.process.returncode in (0, -signal.SIGTERM)
                # Two grace periods at most (agent port, browser port) and start-up noise;
                # without the limit the idle client alone held the exit for 30 s.
                assert took < 2 * GRACE_S + 6, took
                assert await ended_records(p.facade, sid) == []
                async with p.facade.db.session() as s:
                    row = await s.get(OpenSession, sid)
                    assert row is not None
                    assert row.suspended_reason == "broker_shutdown"
                async with broker_process(d, facade_app):
                    ended = await ended_records(p.facade, sid)
                    assert [e.detail.split("reason=")[1].split()[0] for e in ended] == [
                        "broker_shutdown"
                    ]
                    assert await open_session_ids(p.facade) == []
        finally:
            await facade_app.state.db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_session_cut_by_sigkill_is_closed_as_broker_crashed_on_restart(
    backend: str, server_certs: ServerFiles, tmp_path: Path
) -> None:
    """SIGKILL mid-session leaves a start without an end; the broker started again records
    the end (broker_crashed, with the longest the session can have lasted) before it serves,
    exactly once, and the still-running agent links up again by itself."""
    async with database_url(backend, tmp_path) as url:
        d = deployment(server_certs, url, tmp_path / "data")
        facade_app = create_app(d.settings)
        await facade_app.state.db.migrate()
        try:
            async with (
                broker_process(d, facade_app) as first,
                live_session(first, tmp_path) as (link, sid),
            ):
                first.process.send_signal(signal.SIGKILL)
                await first.process.wait()
                assert await ended_records(first.facade, sid) == []
                assert await open_session_ids(first.facade) == [sid]
                before = link.connections
                d.env["MAMORI_AGENT_PORT"] = str(first.facade.agent_port)  # where it dials
                async with broker_process(d, facade_app) as second:
                    ended = await ended_records(second.facade, sid)
                    assert len(ended) == 1
                    assert "reason=broker_crashed" in ended[0].detail
                    assert await open_session_ids(second.facade) == []
                    for _ in range(600):  # 30 s at most
                        if link.connections > before:
                            break
                        await asyncio.sleep(0.05)
                    assert link.connections > before
                    second.process.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(second.process.wait(), 60)
                assert len(await ended_records(first.facade, sid)) == 1
        finally:
            await facade_app.state.db.dispose()
