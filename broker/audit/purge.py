"""Retention: audit records older than the retention period leave the database only through
an export, and the chain stays verifiable afterwards.

``purge`` refuses a chain that does not verify (deleting would destroy the evidence of
tampering), refuses a date inside the retention period (default 5 years), writes every
record it will remove to a new JSON-lines file (with sequence, previous hash and hash, so
the file can be verified on its own) and syncs it to disk, and only then, per chain in one
transaction: signs a purge anchor at the last removed record, deletes the records the
anchor covers (the database's trigger allows exactly those), and records the purge itself in
the chain. The first remaining record's previous hash is the anchor's hash, so verification
starts there; ordinary UPDATE and DELETE stay refused.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.audit import ledger as audit_ledger
from broker.audit.chain import exported
from broker.audit.export import to_json_lines
from broker.audit.ledger import CHECKPOINTS, PURGE, AuditSigner
from broker.audit.record import Actor, Event, Outcome, record
from broker.audit.verify import chains, verify_chain_of
from broker.db.engine import Database
from broker.db.models import AuditChainHead, AuditEvent
from broker.errors import PurgeRefused

EVENTS: Final = cast(Table, AuditEvent.__table__)
PAGE: Final = 2000


@dataclass(frozen=True)
class ChainPurge:
    chain: int
    org_id: int | None
    through_sequence: int
    removed: int


def _create_exclusive(path: Path) -> int:
    # A new file only (never overwrite an earlier export); personal data, so owner-only.
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


async def _cut(session: AsyncSession, chain: int, before: datetime) -> int:
    """The last sequence to remove: records up to the first one at or after ``before``
    (sequence order, since a chain is only ever cut at its start)."""
    first_kept = await session.scalar(
        select(func.min(AuditEvent.sequence)).where(
            AuditEvent.chain == chain, AuditEvent.at >= before
        )
    )
    if first_kept is not None:
        return int(first_kept) - 1
    head = await session.get(AuditChainHead, chain)
    return head.last_sequence if head is not None else 0


async def _export_chain(
    session: AsyncSession, fd: int, digest: Any, chain: int, through: int
) -> Any | None:
    """Write the chain's records up to ``through`` to ``fd``, page by page; the last one."""
    last = None
    after = 0
    while True:
        page = (
            await session.execute(
                select(EVENTS)
                .where(EVENTS.c.chain == chain, EVENTS.c.sequence <= through, EVENTS.c.id > after)
                .order_by(EVENTS.c.id)
                .limit(PAGE)
            )
        ).all()
        if not page:
            return last
        text = to_json_lines(exported(dict(r._mapping)) for r in page).encode()
        os.write(fd, text)
        digest.update(text)
        last = page[-1]
        after = last.id


async def purge(
    db: Database,
    signer: AuditSigner,
    *,
    before: datetime,
    export_path: Path,
    now: datetime,
    retention_days: int,
    org_id: int | None = None,
) -> list[ChainPurge]:
    """Export, then remove, the records before ``before`` of ``org_id``'s chain (or of
    every chain). Returns what each chain lost; raises PurgeRefused before removing anything
    when a chain does not verify or ``before`` is inside the retention period."""
    if before > now - timedelta(days=retention_days):
        raise PurgeRefused(
            f"records younger than the retention period ({retention_days} days) are kept: "
            f"--before must be {(now - timedelta(days=retention_days)).date()} or earlier"
        )
    async with db.session() as s:
        targets = await chains(s, org_id)
        for chain in targets:
            report = await verify_chain_of(s, chain, signer.key.public_key())
            if not report.ok:
                raise PurgeRefused(
                    f"chain {chain} does not verify ({report.problem}); "
                    "purging would destroy the evidence: run `audit verify`"
                )
    plan: list[tuple[int, int | None, int, str]] = []  # chain, org, through, hash at cut
    digest = hashlib.sha256()
    fd = _create_exclusive(export_path)
    try:
        async with db.session() as s:
            for chain in targets:
                last = await _export_chain(s, fd, digest, chain, await _cut(s, chain, before))
                if last is not None:
                    plan.append((chain, last.org_id, last.sequence, last.hash))
        os.fsync(fd)
    finally:
        os.close(fd)
    directory = os.open(export_path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the file's name is durable too, before anything is deleted
    finally:
        os.close(directory)
    done = []
    for chain, chain_org, through, cut_hash in plan:
        done.append(
            await _remove(db, signer, chain, chain_org, through, cut_hash, before, now, digest)
        )
    return done


async def _remove(
    db: Database,
    signer: AuditSigner,
    chain: int,
    org_id: int | None,
    through: int,
    cut_hash: str,
    before: datetime,
    now: datetime,
    digest: Any,
) -> ChainPurge:
    async with db.session() as s:
        conn = await s.connection()
        await conn.run_sync(audit_ledger.lock_head, chain, org_id)
        stored = await s.scalar(
            select(AuditEvent.hash).where(AuditEvent.chain == chain, AuditEvent.sequence == through)
        )
        if stored != cut_hash:
            raise PurgeRefused(f"chain {chain} changed while exporting; nothing removed from it")
        await conn.execute(
            insert(CHECKPOINTS).values(
                signer.checkpoint(chain, org_id, PURGE, through, cut_hash, now)
            )
        )
        removed = (
            await conn.execute(
                delete(EVENTS).where(EVENTS.c.chain == chain, EVENTS.c.sequence <= through)
            )
        ).rowcount
        record(
            s,
            Actor("cli", None, org_id, "cli"),
            Event.AUDIT_PURGED,
            Outcome.SUCCESS,
            now,
            detail=(
                f"before={before.date().isoformat()} removed={removed} "
                f"through_sequence={through} export_sha256={digest.hexdigest()}"
            ),
        )
        await s.commit()
    return ChainPurge(chain, org_id, through, removed)
