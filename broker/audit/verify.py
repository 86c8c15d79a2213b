"""Verifying the stored audit chains: the first edited, deleted or reordered record, a chain
rewritten up to a signed checkpoint, a tail cut off, a forged checkpoint.

Records are read page by page in the order they were inserted (row id) and fed to
``audit_chain.ChainWalker``; checkpoints are checked against the public key given (the
broker's own, or an auditor's copy of it). What the walk cannot see on its own:

- a chain rewritten with fresh hashes from some record on: the walk holds, but the record at
  the next signed checkpoint no longer carries the signed hash (``checkpoint_mismatch``);
- records cut off the end: a signed checkpoint, or the chain head, names a sequence past the
  last record (``truncated``). A tail written after the last checkpoint and cut off together
  with the head's update cannot be told from a chain that never had it; checkpoints every N
  records and every T minutes bound how much that can be;
- records removed from the start: only a signed purge anchor at the sequence just before the
  first remaining record, whose hash is that record's previous hash, explains a chain that
  does not start at 1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Row, Table, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from broker.audit.chain import (
    CHECKPOINT,
    HASHED_FIELDS,
    PURGE_ANCHOR,
    ChainBreak,
    ChainedRecord,
    ChainWalker,
    chain_of,
    checkpoint_valid,
    record_fields,
)
from broker.db.models import AuditChainHead, AuditCheckpoint, AuditEvent

PAGE: Final = 2000
EVENTS: Final = cast(Table, AuditEvent.__table__)
_COLUMNS: Final = [EVENTS.c.id, EVENTS.c.prev_hash, EVENTS.c.hash] + [
    EVENTS.c[name] for name in HASHED_FIELDS
]


@dataclass(frozen=True)
class ChainReport:
    """What verifying one chain found.

    Attributes:
        chain: the chain (an organization's id, 0 for broker-level events).
        records: records that verified (all of them when ``problem`` is None).
        first_sequence: the first record's sequence (above 1 after a purge).
        last_sequence, last_id, last_at: the last record that verified ("verified up to").
        checkpoints: checkpoints whose signature is good.
        last_checkpoint_sequence, last_checkpoint_at: the newest good periodic checkpoint.
        problem: the first break, None when the chain holds.
        problem_id: the row id of the record at the break, when there is such a record.
        rewritten_after: for ``checkpoint_mismatch``, the last checkpoint that still matched
            (the rewrite began after it).
    """

    chain: int
    records: int = 0
    first_sequence: int | None = None
    last_sequence: int | None = None
    last_id: int | None = None
    last_at: datetime | None = None
    checkpoints: int = 0
    last_checkpoint_sequence: int | None = None
    last_checkpoint_at: datetime | None = None
    problem: ChainBreak | None = None
    problem_id: int | None = None
    rewritten_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def chains(session: AsyncSession, org_id: int | None = None) -> list[int]:
    """Every chain with a head, a record or a checkpoint; only ``org_id``'s when given."""
    if org_id is not None:
        return [chain_of(org_id)]
    query = union(
        select(AuditChainHead.chain),
        select(AuditEvent.chain).distinct(),
        select(AuditCheckpoint.chain).distinct(),
    )
    return sorted(int(c) for c in (await session.scalars(select(query.subquery().c.chain))))


async def _pages(session: AsyncSession, chain: int) -> AsyncIterator[list[Row[Any]]]:
    after = 0
    while True:
        rows = list(
            (
                await session.execute(
                    select(*_COLUMNS)
                    .where(EVENTS.c.chain == chain, EVENTS.c.id > after)
                    .order_by(EVENTS.c.id)
                    .limit(PAGE)
                )
            ).all()
        )
        if not rows:
            return
        yield rows
        after = rows[-1].id


@dataclass
class _Checkpoints:
    periodic: dict[int, str]
    anchors: dict[int, str]
    forged: list[int]
    good: int
    newest: tuple[int, datetime] | None


async def _checkpoints(
    session: AsyncSession, chain: int, public_key: Ed25519PublicKey
) -> _Checkpoints:
    found = _Checkpoints({}, {}, [], 0, None)
    rows = await session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.chain == chain)
        .order_by(AuditCheckpoint.sequence, AuditCheckpoint.id)
    )
    for cp in rows:
        kind = PURGE_ANCHOR if cp.kind == "purge" else CHECKPOINT
        if not checkpoint_valid(public_key, cp.sequence, cp.hash, cp.signature, kind):
            found.forged.append(cp.sequence)
            continue
        found.good += 1
        if cp.kind == "purge":
            found.anchors[cp.sequence] = cp.hash
        else:
            found.periodic[cp.sequence] = cp.hash
            found.newest = (cp.sequence, cp.signed_at)
    return found


async def verify_chain_of(
    session: AsyncSession, chain: int, public_key: Ed25519PublicKey
) -> ChainReport:
    """Verify one stored chain end to end (records, checkpoints, head)."""
    signed = await _checkpoints(session, chain, public_key)
    head = await session.get(AuditChainHead, chain)
    breaks: list[tuple[ChainBreak, int | None, int | None]] = [
        (ChainBreak(sequence, "bad_checkpoint"), None, None) for sequence in signed.forged
    ]
    walker: ChainWalker | None = None
    first_sequence: int | None = None
    last: Row[Any] | None = None
    matched_checkpoint = 0
    stopped = False
    async for page in _pages(session, chain):
        for row in page:
            if walker is None:
                first_sequence = row.sequence
                anchor = signed.anchors.get(row.sequence - 1)
                if row.sequence == 1:
                    walker = ChainWalker()
                elif anchor is not None and anchor == row.prev_hash:
                    walker = ChainWalker(row.sequence, anchor)
                else:
                    breaks.append((ChainBreak(row.sequence, "missing_before"), row.id, None))
                    stopped = True
                    break
            fields = record_fields(dict(row._mapping))
            found = walker.feed(ChainedRecord(row.sequence, fields, row.hash, row.prev_hash))
            if found is None:
                expected = signed.periodic.get(row.sequence, signed.anchors.get(row.sequence))
                if expected is not None and expected != row.hash:
                    found = ChainBreak(row.sequence, "checkpoint_mismatch")
            if found is not None:
                breaks.append((found, row.id, matched_checkpoint))
                stopped = True
                break
            if row.sequence in signed.periodic:
                matched_checkpoint = row.sequence
            last = row
        if stopped:
            break
    if not stopped:
        walked_through = last.sequence if last is not None else max(signed.anchors, default=0)
        proven = max(
            head.last_sequence if head is not None else 0,
            max(signed.periodic, default=0),
            max(signed.anchors, default=0),
        )
        if proven > walked_through:
            breaks.append((ChainBreak(walked_through + 1, "truncated"), None, None))
    first = min(breaks, key=lambda b: b[0].sequence) if breaks else None
    return ChainReport(
        chain=chain,
        records=walker.count if walker is not None else 0,
        first_sequence=first_sequence,
        last_sequence=last.sequence if last is not None else None,
        last_id=last.id if last is not None else None,
        last_at=last.at if last is not None else None,
        checkpoints=signed.good,
        last_checkpoint_sequence=signed.newest[0] if signed.newest else None,
        last_checkpoint_at=signed.newest[1] if signed.newest else None,
        problem=first[0] if first else None,
        problem_id=first[1] if first else None,
        rewritten_after=(first[2] if first and first[0].problem == "checkpoint_mismatch" else None),
    )
