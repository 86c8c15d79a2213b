"""The restore drill: a running broker is backed up (`python -m broker backup`, online), the
backup is restored (`restore`) into an empty data folder and an empty database, and the
restored broker's audit chains verify, its people sign in (TOTP secrets open under the same
secret key) and its agents connect with the certificates they already hold. Restore refuses a
non-empty target, another secret key and an altered backup."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

import mamori_protocol as protocol
from certs.authority import ServerFiles
from devkit.agent import enroll_agent
from devkit.broker import random_secret_key, running_broker
from devkit.databases import BACKENDS, postgres_database
from devkit.identity import make_org, make_person, signed_in
from tests.conftest import HOST_ID

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def env_of(certs: ServerFiles, key: str, data_dir: Path, url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    env |= {
        "MAMORI_SECRET_KEY": key,
        "MAMORI_TLS_CERT": str(certs.server_cert),
        "MAMORI_TLS_KEY": str(certs.server_key),
        "MAMORI_DATA_DIR": str(data_dir),
    }
    if url is not None:
        env["MAMORI_DATABASE_URL"] = url
    return env


async def broker_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


@contextlib.asynccontextmanager
async def target_database(backend: str, tmp_path: Path) -> AsyncIterator[str | None]:
    """Where to restore: the default SQLite file of the new data folder, or a new, empty
    PostgreSQL database of this test's own."""
    if backend == "sqlite":
        yield None
    else:
        async with postgres_database() as url:
            yield url


@contextlib.asynccontextmanager
async def source_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'live' / 'mamori.db'}"
    else:
        async with postgres_database() as url:
            yield url


async def agent_connects(broker: object, state: object, org_id: int) -> None:
    relay = broker.app.state.relay  # type: ignore[attr-defined]
    url = f"{broker.agent_wss_url}/ws/agent"  # type: ignore[attr-defined]
    async with connect(url, ssl=state.ssl_context()) as ws:  # type: ignore[attr-defined]
        await ws.send(protocol.encode(protocol.AgentHello(HOST_ID, "診察室1", "0.1.0")))
        for _ in range(500):
            if relay.agent(org_id, HOST_ID) is not None:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the agent did not link up")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_backup_then_restore_into_an_empty_place_yields_a_working_broker(
    backend: str, server_certs: ServerFiles, tmp_path: Path
) -> None:
    """The drill, on SQLite (online backup API) and PostgreSQL (pg_dump / pg_restore)."""
    key = random_secret_key()
    live_dir, backup_dir, restored_dir = tmp_path / "live", tmp_path / "backup", tmp_path / "new"
    async with source_database(backend, tmp_path) as url:
        async with running_broker(server_certs, url, data_dir=live_dir, secret_key=key) as live:
            org = await make_org(live)
            person = await make_person(live, org)
            state = await enroll_agent(live, org, HOST_ID, tmp_path / "agent", "診察室1")
            async with signed_in(live, person):
                pass
            await agent_connects(live, state, org.id)
            # Online: the broker keeps running (and writing) while the backup is taken.
            code, output = await broker_cli(
                env_of(server_certs, key, live_dir, url), "backup", str(backup_dir)
            )
            assert code == 0, output
        assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
        for file in backup_dir.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        assert (backup_dir / "secret-key").read_text().strip() == key

    async with target_database(backend, tmp_path) as target:
        env = env_of(server_certs, key, restored_dir, target)
        # Another secret key: refused (TOTP secrets and CA keys would not open).
        code, output = await broker_cli(
            env | {"MAMORI_SECRET_KEY": random_secret_key()}, "restore", str(backup_dir)
        )
        assert code == 1
        assert "MAMORI_SECRET_KEY is not the backup's" in output
        code, output = await broker_cli(env, "restore", str(backup_dir))
        assert code == 0, output
        # Never over existing data.
        code, output = await broker_cli(env, "restore", str(backup_dir))
        assert code == 1
        assert "restore into an empty data folder" in output

        code, output = await broker_cli(env, "audit", "verify")
        assert code == 0, output
        assert "OK " in output  # the clinic's chain, verified

        restored_url = target or f"sqlite+aiosqlite:///{(restored_dir / 'mamori.db').resolve()}"
        async with running_broker(
            server_certs, restored_url, data_dir=restored_dir, secret_key=key
        ) as restored:
            async with signed_in(restored, person):
                pass
            await agent_connects(restored, state, org.id)


async def test_an_altered_backup_is_refused(server_certs: ServerFiles, tmp_path: Path) -> None:
    """A backup whose database file changed after it was written is not restored."""
    key = random_secret_key()
    url = f"sqlite+aiosqlite:///{tmp_path / 'live' / 'mamori.db'}"
    async with running_broker(server_certs, url, data_dir=tmp_path / "live", secret_key=key):
        pass
    env = env_of(server_certs, key, tmp_path / "live", url)
    code, output = await broker_cli(env, "backup", str(tmp_path / "b"))
    assert code == 0, output
    with (tmp_path / "b" / "mamori.db").open("ab") as f:
        f.write(b"tampered")
    code, output = await broker_cli(
        env_of(server_certs, key, tmp_path / "new", None), "restore", str(tmp_path / "b")
    )
    assert code == 1
    assert "missing or altered" in output
    assert not (tmp_path / "new" / "mamori.db").exists()
