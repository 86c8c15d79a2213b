"""The agent as a real process: it enrolls with a one-time code, streams over mutual TLS,
only dials out, and comes back after the broker does."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from certs.authority import ServerFiles
from devkit.agent import make_code
from devkit.broker import RunningBroker, random_secret_key, running_broker
from devkit.databases import sqlite_url
from devkit.display import XvfbDisplay
from devkit.identity import SignedIn, make_org, make_person, sign_in_client
from tests.support.viewer import aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]

ROOT = Path(__file__).resolve().parents[2]
HOST_ID = "agent-process-pc"
TCP_LISTEN = "0A"


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def bound_sockets(pid: int) -> dict[str, list[tuple[str, str]]]:
    """The process's TCP sockets in LISTEN state and all of its UDP sockets, by table."""
    mine = socket_inodes(pid)
    found: dict[str, list[tuple[str, str]]] = {}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if inode not in mine:
                continue
            if table.startswith("tcp") and state != TCP_LISTEN:
                continue
            found.setdefault(table, []).append((local, state))
    return found


async def wait_listed(
    broker: RunningBroker, user: SignedIn, present: bool = True, timeout: float = 20
) -> None:
    async with broker.http(cookies=user.http.cookies) as http:
        for _ in range(int(timeout / 0.1)):
            hosts = (await http.get("/api/hosts")).json()["hosts"]
            if any(h["host_id"] == HOST_ID for h in hosts) == present:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{HOST_ID} listed={not present} after {timeout} s")


def enroll_process(broker: RunningBroker, code: str, state_dir: Path) -> str:
    """``python -m host_agent enroll`` as the console shows it; its output."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "host_agent",
            "enroll",
            "--broker",
            broker.https_url,
            "--code",
            code,
            "--host-id",
            HOST_ID,
            "--name",
            "別プロセス",
            "--ca-file",
            str(broker.certs.ca_cert),
            "--state-dir",
            str(state_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


async def test_agent_process_enrolls_streams_listens_on_no_port_and_reconnects(
    server_certs: ServerFiles, xvfb: XvfbDisplay, loopback_ice: None, tmp_path: Path
) -> None:
    """The agent process enrolls with a one-time code (key 0600, made on the host), then
    streams over mutual TLS; it opens no listening socket (idle or in a session) and
    re-registers with a restarted broker by itself; the browser session survives it."""
    url = sqlite_url(tmp_path)
    key = random_secret_key()
    state_dir = tmp_path / "agent-state"
    async with (
        running_broker(server_certs, url, secret_key=key) as broker,
        broker.http() as http,
    ):
        port, agent_port = broker.port, broker.agent_port
        org = await make_org(broker)
        code = await make_code(broker, org, HOST_ID)
        output = await asyncio.to_thread(enroll_process, broker, code, state_dir)
        assert f"enrolled {HOST_ID} in {org.name}" in output
        assert stat.S_IMODE((state_dir / "agent.pem").stat().st_mode) == 0o600
        user = await sign_in_client(broker, http, await make_person(broker, org))
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "host_agent",
                "--state-dir",
                str(state_dir),
                "--broker",
                broker.agent_wss_url,
                "--display",
                xvfb.name,
                "--ice-address",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            await wait_listed(broker, user)
            assert bound_sockets(agent.pid) == {}
            async with aiortc_viewer(broker, user, HOST_ID) as viewer:
                await viewer.next_frame(timeout=20)
                in_session = bound_sockets(agent.pid)
                # Media needs UDP sockets for ICE; nothing accepts TCP connections.
                assert "tcp" not in in_session
                assert "tcp6" not in in_session
        except BaseException:
            agent.kill()
            raise
    try:
        await asyncio.sleep(1.0)
        assert agent.poll() is None, "the agent must survive the broker going away"
        async with running_broker(
            server_certs, url, port=port, secret_key=key, agent_port=agent_port
        ) as restarted:
            await wait_listed(restarted, user, timeout=45)
    finally:
        agent.terminate()
        try:
            _, stderr = agent.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            raise
    assert agent.returncode == 0, stderr.decode()[-2000:]
