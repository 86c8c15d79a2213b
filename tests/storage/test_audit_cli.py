"""``python -m broker audit ...`` as an operator runs it, against SQLite and PostgreSQL:
verify names the first broken record and exits non-zero; purge exports first, keeps the
chain verifiable and is itself audited; the append-only triggers still refuse the rest."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from broker.audit import key as audit_key
from broker.audit.chain import GENESIS, link_hash
from broker.db.engine import Database
from broker.db.models import AuditCheckpoint, AuditEvent, Organization
from broker.identity.accounts import new_org_code
from certs.authority import ServerFiles
from devkit.broker import random_secret_key
from devkit.databases import BACKENDS, database_url
from tests.support.audit import drop_append_only_triggers, signed_database, tamper, write_events

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=7 * 366)  # well past the 5-year retention


@dataclass
class Cli:
    env: dict[str, str]
    db: Database
    data_dir: Path

    async def run(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "broker",
            "audit",
            *args,
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


@pytest.fixture(params=BACKENDS)
async def cli(
    request: pytest.FixtureRequest, server_certs: ServerFiles, tmp_path: Path
) -> AsyncIterator[Cli]:
    async with database_url(request.param, tmp_path) as url:
        data_dir = tmp_path / "data"
        key = audit_key.load_private_key(data_dir / "audit-signing-key.pem", create=True)
        db = signed_database(url, key, every=10)
        await db.migrate()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")},
            "MAMORI_ENV": "production",
            "MAMORI_SECRET_KEY": random_secret_key(),
            "MAMORI_TLS_CERT": str(server_certs.server_cert),
            "MAMORI_TLS_KEY": str(server_certs.server_key),
            "MAMORI_DATABASE_URL": url,
            "MAMORI_DATA_DIR": str(data_dir),
        }
        yield Cli(env, db, data_dir)
        await db.dispose()


async def clinic(db: Database, name: str) -> int:
    # A bare clinic row: create_org would also seed (and audit) the default grants, and
    # these tests count every record of a chain.
    async with db.session() as s:
        org = Organization(name=name, code=new_org_code(), created_at=OLD)
        s.add(org)
        await s.commit()
        return org.id


async def rows_of(db: Database, chain: int) -> list[AuditEvent]:
    async with db.session() as s:
        return list(
            await s.scalars(select(AuditEvent).where(AuditEvent.chain == chain).order_by("id"))
        )


async def test_verify_says_ok_with_counts(cli: Cli) -> None:
    """Every chain verifies: exit 0, one OK line per chain with its counts."""
    sakura = await clinic(cli.db, "さくら内科")
    await write_events(cli.db, sakura, 12, OLD)
    await write_events(cli.db, None, 3, OLD)
    code, out, err = await cli.run("verify")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("OK      broker (events of no organization): 3 records")
    assert lines[1].startswith(
        f"OK      さくら内科 (organization {sakura}): 12 records, 1 checkpoints"
    )
    assert "verified up to record 12" in lines[1]
    code, out, _ = await cli.run("verify", "--org", "さくら内科")
    assert code == 0
    assert len(out.splitlines()) == 1
    code, _, err = await cli.run("verify", "--org", "どこにもない医院")
    assert code == 2
    assert "no organization named" in err


async def test_verify_names_the_first_edited_record_and_fails(cli: Cli) -> None:
    """An edited record: exit 1, its sequence and row id named; the other clinic is OK; the
    failure is itself audited in the broken chain."""
    sakura, ume = await clinic(cli.db, "さくら内科"), await clinic(cli.db, "うめ歯科")
    await write_events(cli.db, sakura, 15, OLD)
    await write_events(cli.db, ume, 5, OLD)
    target = (await rows_of(cli.db, sakura))[8]
    await drop_append_only_triggers(cli.db)
    await tamper(cli.db, f"UPDATE audit_events SET detail = 'nothing' WHERE id = {target.id}")  # noqa: S608
    code, out, _ = await cli.run("verify")
    assert code == 1
    assert (
        f"BROKEN  さくら内科 (organization {sakura}): record 9 (id {target.id}) was edited" in out
    )
    assert f"OK      うめ歯科 (organization {ume}): 5 records" in out
    assert "verified up to record 8" in out
    newest = (await rows_of(cli.db, sakura))[-1]
    assert (newest.event, newest.outcome) == ("audit_chain_broken", "failure")


async def test_verify_with_an_auditors_copy_of_the_public_key(cli: Cli, tmp_path: Path) -> None:
    """public-key prints the key an auditor keeps; verify with it passes, and with any other
    key every checkpoint is named forged."""
    sakura = await clinic(cli.db, "さくら内科")
    await write_events(cli.db, sakura, 10, OLD)
    code, out, _ = await cli.run("public-key")
    assert code == 0
    pem = out[: out.index("key id")]
    mine = tmp_path / "auditor.pem"
    mine.write_text(pem)
    assert (await cli.run("verify", "--public-key", str(mine)))[0] == 0
    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    code, out, _ = await cli.run("verify", "--public-key", str(other))
    assert code == 1
    assert "checkpoint at record 10 is not signed by this key (forged)" in out


async def test_purge_exports_first_and_the_chain_still_verifies(cli: Cli, tmp_path: Path) -> None:
    """Records older than the cut go to the export file (with their hashes, verifiable on
    their own), leave the database, the purge is audited, the chain verifies from the signed
    anchor, and an ordinary DELETE is still refused."""
    sakura = await clinic(cli.db, "さくら内科")
    await write_events(cli.db, sakura, 14, OLD)
    await write_events(cli.db, sakura, 6, NOW - timedelta(days=30))
    before = (OLD + timedelta(days=1)).date().isoformat()
    export = tmp_path / "old-audit.jsonl"
    code, out, err = await cli.run("purge", "--before", before, "--export", str(export))
    assert code == 0, err
    assert "removed 14 records from 1 chains" in out
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert [line["sequence"] for line in lines] == list(range(1, 15))
    previous = GENESIS
    for line in lines:  # an auditor re-computes every hash from the file alone
        fields = {k: v for k, v in line.items() if k not in {"id", "prev_hash", "hash"}}
        assert line["prev_hash"] == previous
        assert link_hash(previous, fields) == line["hash"]
        previous = line["hash"]
    assert export.stat().st_mode & 0o077 == 0
    left = await rows_of(cli.db, sakura)
    assert [r.sequence for r in left] == list(range(15, 22))
    assert left[0].prev_hash == lines[-1]["hash"]
    purged = left[-1]
    assert purged.event == "audit_purged"
    assert f"before={before} removed=14 through_sequence=14" in purged.detail
    code, out, _ = await cli.run("verify")
    assert code == 0, out
    assert "7 records" in out
    async with cli.db.session() as s:
        anchors = list(
            await s.scalars(select(AuditCheckpoint).where(AuditCheckpoint.kind == "purge"))
        )
        assert [(a.chain, a.sequence) for a in anchors] == [(sakura, 14)]
        with pytest.raises((DBAPIError, IntegrityError)):
            await s.execute(delete(AuditEvent).where(AuditEvent.sequence == 15))


async def test_purge_is_refused_inside_retention_or_on_a_broken_chain(
    cli: Cli, tmp_path: Path
) -> None:
    """A date inside the 5-year retention, an existing export file, or a chain that does not
    verify: exit 2, nothing removed."""
    sakura = await clinic(cli.db, "さくら内科")
    await write_events(cli.db, sakura, 5, OLD)
    recent = (NOW - timedelta(days=365)).date().isoformat()
    code, _, err = await cli.run("purge", "--before", recent, "--export", str(tmp_path / "a"))
    assert code == 2
    assert "retention period (1830 days)" in err
    assert not (tmp_path / "a").exists()
    existing = tmp_path / "b"
    existing.write_text("keep me")
    before = NOW.replace(year=NOW.year - 6).date().isoformat()
    code, _, err = await cli.run("purge", "--before", before, "--export", str(existing))
    assert code == 2
    assert existing.read_text() == "keep me"
    target = (await rows_of(cli.db, sakura))[2]
    await drop_append_only_triggers(cli.db)
    await tamper(cli.db, f"UPDATE audit_events SET actor = 'x' WHERE id = {target.id}")  # noqa: S608
    code, _, err = await cli.run("purge", "--before", before, "--export", str(tmp_path / "c"))
    assert code == 2
    assert "does not verify" in err
    assert not (tmp_path / "c").exists()
    assert len(await rows_of(cli.db, sakura)) == 5
