"""The audit trail's tamper evidence: a SHA-256 hash chain with signed checkpoints.

Each record carries the hash of the one before it, computed over a canonical JSON form of
the record, so editing, deleting or reordering any record breaks every link after it.
Periodic checkpoints sign (sequence, hash) with an Ed25519 key held by the broker, so an
attacker who rewrites the whole chain from some point on still cannot produce a valid
checkpoint (MHLW.md row 11: access logs protected from tampering).

Sans-I/O: the storage layer feeds records in order; this module only computes and checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS: Final = "0" * 64  # the "previous hash" of the first record
# The chain of broker-level events that belong to no organization (an unknown user name's
# failed sign-in, a refused agent); every organization's chain is keyed by its id.
BROKER_CHAIN: Final = 0
# What a stored audit record's hash covers: every column but the row id (assigned by the
# database after the hash is computed; the walk by id catches reordering instead).
HASHED_FIELDS: Final = (
    "chain",
    "sequence",
    "at",
    "org_id",
    "actor_user_id",
    "actor",
    "event",
    "outcome",
    "source_address",
    "target_user_id",
    "detail",
)
# A checkpoint signs the chain's state; a purge anchor signs the state a purge cut the
# chain at, so an ordinary checkpoint cannot pass for the licence to delete what precedes it.
CHECKPOINT: Final = "checkpoint"
PURGE_ANCHOR: Final = "purge-anchor"


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def chain_of(org_id: int | None) -> int:
    """The chain a record of ``org_id`` (None: broker-level) belongs to."""
    return BROKER_CHAIN if org_id is None else org_id


def timestamp(at: datetime) -> str:
    """A record's time as hashed: UTC, microseconds (what both databases keep), a ``Z``."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: audit times are UTC")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed form of a stored record (``HASHED_FIELDS``; ``at`` as ``timestamp``)."""
    fields = {name: row[name] for name in HASHED_FIELDS}
    fields["at"] = timestamp(row["at"])
    return fields


def exported(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as exported (JSON lines): its hashed fields exactly as hashed, plus
    its row ``id``, ``prev_hash`` and ``hash``, so the file verifies on its own."""
    return {
        **record_fields(row),
        "id": row["id"],
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }


def link_hash(previous_hash: str, record: Mapping[str, Any]) -> str:
    """The hash stored with ``record``: SHA-256 over the previous hash and the record."""
    return hashlib.sha256(previous_hash.encode() + b"\n" + canonical(record)).hexdigest()


@dataclass(frozen=True)
class ChainedRecord:
    """A record as stored: its sequence number, its fields, and its link hash; ``previous``
    is the previous hash as stored with it, when it is (checked against the chain too)."""

    sequence: int
    fields: Mapping[str, Any]
    hash: str
    previous: str | None = None


@dataclass(frozen=True)
class ChainBreak:
    """The first record where the chain no longer holds, and what is wrong there."""

    sequence: int
    # "edited", "missing_before", "out_of_order", "bad_checkpoint", "checkpoint_mismatch"
    # (rewritten, hashes and all, up to a signed checkpoint) or "truncated" (records after
    # ``sequence - 1`` that a checkpoint or the chain head proves were written are gone).
    problem: str


class ChainWalker:
    """Checks records fed one at a time in stored order, so a long chain can be read from
    the database page by page. ``previous_hash`` and ``first_sequence`` start the walk
    somewhere other than the genesis: after a purge, at its signed anchor."""

    def __init__(self, first_sequence: int = 1, previous_hash: str = GENESIS) -> None:
        self.previous = previous_hash
        self.expected = first_sequence
        self.count = 0

    def feed(self, record: ChainedRecord) -> ChainBreak | None:
        """The break ``record`` shows, or None when it links to what came before.

        A gap in sequence numbers means a deletion, a step backwards a reordering, and a hash
        that does not match the record's fields (or a stored previous hash that is not the
        previous record's) an edit.
        """
        if record.sequence < self.expected:
            return ChainBreak(record.sequence, "out_of_order")
        if record.sequence > self.expected:
            return ChainBreak(record.sequence, "missing_before")
        if record.previous is not None and record.previous != self.previous:
            return ChainBreak(record.sequence, "edited")
        if link_hash(self.previous, record.fields) != record.hash:
            return ChainBreak(record.sequence, "edited")
        self.previous = record.hash
        self.expected += 1
        self.count += 1
        return None


def verify_chain(
    records: Iterable[ChainedRecord], first_sequence: int = 1, previous_hash: str = GENESIS
) -> ChainBreak | None:
    """Walk the chain in stored order; None when every link holds (see ``ChainWalker``)."""
    walker = ChainWalker(first_sequence, previous_hash)
    for record in records:
        found = walker.feed(record)
        if found is not None:
            return found
    return None


def checkpoint_message(sequence: int, chain_hash: str, kind: str = CHECKPOINT) -> bytes:
    return f"mamori-audit-{kind}:{sequence}:{chain_hash}".encode()


def sign_checkpoint(
    key: Ed25519PrivateKey, sequence: int, chain_hash: str, kind: str = CHECKPOINT
) -> bytes:
    """Sign the chain's state at ``sequence`` (a purge anchor with ``kind=PURGE_ANCHOR``)."""
    return key.sign(checkpoint_message(sequence, chain_hash, kind))


def checkpoint_valid(
    public_key: Ed25519PublicKey,
    sequence: int,
    chain_hash: str,
    signature: bytes,
    kind: str = CHECKPOINT,
) -> bool:
    """Whether a stored checkpoint was signed by the broker's key for that exact state."""
    try:
        public_key.verify(signature, checkpoint_message(sequence, chain_hash, kind))
    except InvalidSignature:
        return False
    return True
