"""Replicas (issue 18 part 1): MAMORI_REPLICAS=on refuses to start without PostgreSQL and
Redis and a replica name of its own, with a clear message; a replica claims its agents in
Redis with presence keys that carry a TTL, refreshes them, and withdraws only its own claims.
Routing between replicas: test_routing.py and test_routing_browser.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect

import mamori_protocol as protocol
from broker.config import Settings
from broker.errors import ConfigError
from broker.replicas.presence import Presence, key_of
from certs.authority import ServerFiles
from devkit.agent import enroll_agent
from devkit.broker import random_secret_key, running_broker
from devkit.databases import own_redis, postgres_database
from devkit.identity import make_org
from tests.conftest import HOST_ID

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/mamori"


def settings(certs: ServerFiles, **values: object) -> Settings:
    return Settings(
        secret_key=random_secret_key(), tls_cert=certs.server_cert, tls_key=certs.server_key,
        **values,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("values", "needs"),
    [
        ({}, "PostgreSQL"),
        ({"redis_url": "redis://127.0.0.1:6379/3"}, "PostgreSQL"),
        ({"database_url": PG}, "Redis"),
        ({"database_url": PG, "redis_url": "redis://127.0.0.1:6379/3"}, "MAMORI_REPLICA_ID"),
    ],
)
def test_replicas_refuse_to_start_without_postgres_redis_and_a_name(
    server_certs: ServerFiles, values: dict[str, object], needs: str
) -> None:
    """Each missing piece is named; SQLite and the in-memory relay are one process's."""
    with pytest.raises(ConfigError) as refused:
        settings(server_certs, replicas=True, **values)
    assert "MAMORI_REPLICAS=on" in str(refused.value)
    assert needs in str(refused.value)


def test_replicas_start_with_all_three(server_certs: ServerFiles) -> None:
    done = settings(
        server_certs, replicas=True, database_url=PG, redis_url="redis://127.0.0.1:6379/3",
        replica_id="broker-a",
    )  # fmt: skip
    assert done.replicas


def test_the_broker_process_refuses_with_a_clear_message(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """`python -m broker serve` with MAMORI_REPLICAS=on on SQLite exits 2 before listening,
    saying what it needs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    env |= {
        "MAMORI_SECRET_KEY": random_secret_key(),
        "MAMORI_TLS_CERT": str(server_certs.server_cert),
        "MAMORI_TLS_KEY": str(server_certs.server_key),
        "MAMORI_DATA_DIR": str(tmp_path),
        "MAMORI_PORT": "0",
        "MAMORI_REPLICAS": "on",
    }
    done = subprocess.run(
        [sys.executable, "-m", "broker", "serve"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "MAMORI_REPLICAS=on needs PostgreSQL" in done.stderr
    assert "Uvicorn running" not in done.stderr


async def test_a_withdrawal_never_removes_another_replicas_claim(tmp_path: Path) -> None:
    """A claims, the agent moves to B (B claims); A's late withdrawal leaves B's claim; B's
    own withdrawal removes it. Claims carry the TTL."""
    with own_redis(tmp_path) as url:
        redis = Redis.from_url(url)
        try:
            a, b = Presence(redis, "broker-a", ttl_s=30), Presence(redis, "broker-b", ttl_s=30)
            await a.announce(1, HOST_ID)
            assert await a.where(1, HOST_ID) == "broker-a"
            assert 0 < await redis.ttl(key_of(1, HOST_ID)) <= 30
            await b.announce(1, HOST_ID)
            assert await a.withdraw(1, HOST_ID) is False
            assert await a.where(1, HOST_ID) == "broker-b"
            assert await b.withdraw(1, HOST_ID) is True
            assert await a.where(1, HOST_ID) is None
        finally:
            await redis.aclose()


async def test_a_dead_replicas_claims_lapse_with_the_ttl(tmp_path: Path) -> None:
    """Nobody refreshes a crashed replica's claims: they are gone after the TTL; a live one
    keeps its own by refreshing."""
    with own_redis(tmp_path) as url:
        redis = Redis.from_url(url)
        try:
            dead, live = Presence(redis, "dead", ttl_s=1), Presence(redis, "live", ttl_s=1)
            await dead.announce(1, "pc-dead")
            await live.announce(1, "pc-live")
            keeper = asyncio.create_task(live.keep_fresh(lambda: [(1, "pc-live")]))
            try:
                for _ in range(300):
                    if await dead.where(1, "pc-dead") is None:
                        break
                    await asyncio.sleep(0.01)
                assert await dead.where(1, "pc-dead") is None
                await asyncio.sleep(1.2)  # longer than the TTL: only the refresh keeps it
                assert await live.where(1, "pc-live") == "live"
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
        finally:
            await redis.aclose()


@pytest.mark.postgres
async def test_a_replica_claims_its_agents_while_linked(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """A replica on PostgreSQL + Redis: an agent that links up is claimed under the replica's
    name with a TTL; when its link closes the claim is withdrawn."""
    with own_redis(tmp_path) as url:
        async with (
            postgres_database() as db_url,
            running_broker(
                server_certs, db_url, replicas=True, redis_url=url, replica_id="broker-a"
            ) as broker,
        ):
            org = await make_org(broker)
            state = await enroll_agent(broker, org, HOST_ID, tmp_path / "agent")
            redis = Redis.from_url(url)
            try:
                presence = Presence(redis, "observer")
                async with connect(
                    f"{broker.agent_wss_url}/ws/agent", ssl=state.ssl_context()
                ) as ws:
                    await ws.send(protocol.encode(protocol.AgentHello(HOST_ID, "pc", "0.1.0")))
                    for _ in range(500):
                        if await presence.where(org.id, HOST_ID) is not None:
                            break
                        await asyncio.sleep(0.02)
                    assert await presence.where(org.id, HOST_ID) == "broker-a"
                    assert 0 < await redis.ttl(key_of(org.id, HOST_ID)) <= 30
                for _ in range(500):
                    if await presence.where(org.id, HOST_ID) is None:
                        break
                    await asyncio.sleep(0.02)
                assert await presence.where(org.id, HOST_ID) is None
            finally:
                await redis.aclose()
