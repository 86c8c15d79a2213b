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
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS: Final = "0" * 64  # the "previous hash" of the first record


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def link_hash(previous_hash: str, record: Mapping[str, Any]) -> str:
    """The hash stored with ``record``: SHA-256 over the previous hash and the record."""
    return hashlib.sha256(previous_hash.encode() + b"\n" + canonical(record)).hexdigest()


@dataclass(frozen=True)
class ChainedRecord:
    """A record as stored: its sequence number, its fields, and its link hash."""

    sequence: int
    fields: Mapping[str, Any]
    hash: str


@dataclass(frozen=True)
class ChainBreak:
    """The first record where the chain no longer holds, and what is wrong there."""

    sequence: int
    problem: str  # "edited", "missing_before", "out_of_order", "bad_checkpoint"


def verify_chain(records: Iterable[ChainedRecord], first_sequence: int = 1) -> ChainBreak | None:
    """Walk the chain in stored order; None when every link holds.

    A gap in sequence numbers means a deletion, a step backwards a reordering, and a hash
    that does not match the record's fields an edit.
    """
    previous = GENESIS
    expected = first_sequence
    for record in records:
        if record.sequence < expected:
            return ChainBreak(record.sequence, "out_of_order")
        if record.sequence > expected:
            return ChainBreak(record.sequence, "missing_before")
        if link_hash(previous, record.fields) != record.hash:
            return ChainBreak(record.sequence, "edited")
        previous = record.hash
        expected += 1
    return None


def checkpoint_message(sequence: int, chain_hash: str) -> bytes:
    return f"mamori-audit-checkpoint:{sequence}:{chain_hash}".encode()


def sign_checkpoint(key: Ed25519PrivateKey, sequence: int, chain_hash: str) -> bytes:
    """Sign the chain's state at ``sequence``."""
    return key.sign(checkpoint_message(sequence, chain_hash))


def checkpoint_valid(
    public_key: Ed25519PublicKey, sequence: int, chain_hash: str, signature: bytes
) -> bool:
    """Whether a stored checkpoint was signed by the broker's key for that exact state."""
    try:
        public_key.verify(signature, checkpoint_message(sequence, chain_hash))
    except InvalidSignature:
        return False
    return True
