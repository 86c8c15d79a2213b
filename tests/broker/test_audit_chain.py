"""Tamper evidence of the audit trail: every kind of tampering is named at its first record."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.chain import (
    GENESIS,
    ChainBreak,
    ChainedRecord,
    checkpoint_valid,
    link_hash,
    sign_checkpoint,
    verify_chain,
)

pytestmark = pytest.mark.unit


def build(n: int) -> list[ChainedRecord]:
    records, previous = [], GENESIS
    for sequence in range(1, n + 1):
        fields = {
            "event": "login_success",
            "user": f"u{sequence}",
            "org": "さくら内科",
            "at": f"2026-11-21T03:00:{sequence:02d}Z",
        }
        previous = link_hash(previous, fields)
        records.append(ChainedRecord(sequence, fields, previous))
    return records


def test_an_untouched_chain_verifies() -> None:
    """A chain written in order verifies end to end."""
    assert verify_chain(build(20)) is None


def test_an_edited_record_is_named() -> None:
    """Changing one field of record 7 breaks the chain exactly there."""
    records = build(20)
    records[6] = dataclasses.replace(records[6], fields={**records[6].fields, "user": "admin"})
    assert verify_chain(records) == ChainBreak(7, "edited")


def test_an_edited_record_with_a_recomputed_hash_breaks_the_next_link() -> None:
    """Recomputing the edited record's own hash only moves the break to the next record."""
    records = build(20)
    fields = {**records[6].fields, "user": "admin"}
    records[6] = ChainedRecord(7, fields, link_hash(records[5].hash, fields))
    assert verify_chain(records) == ChainBreak(8, "edited")


def test_a_deleted_record_is_named() -> None:
    """Removing record 10 is reported at the record after the gap."""
    records = build(20)
    del records[9]
    assert verify_chain(records) == ChainBreak(11, "missing_before")


def test_reordered_records_are_named() -> None:
    """Swapping records 4 and 5 is reported where the order goes wrong."""
    records = build(20)
    records[3], records[4] = records[4], records[3]
    assert verify_chain(records) == ChainBreak(5, "missing_before")
    records = build(20)
    records.insert(8, records[2])
    assert verify_chain(records) == ChainBreak(3, "out_of_order")


def test_a_truncated_chain_is_caught_by_its_checkpoint() -> None:
    """Cutting off the tail verifies as a chain, but not against the signed checkpoint."""
    key = Ed25519PrivateKey.generate()
    records = build(20)
    signature = sign_checkpoint(key, 20, records[-1].hash)
    assert checkpoint_valid(key.public_key(), 20, records[-1].hash, signature)
    assert verify_chain(records[:15]) is None
    assert not checkpoint_valid(key.public_key(), 15, records[14].hash, signature)


def test_a_checkpoint_by_another_key_is_invalid() -> None:
    """Only the broker's own key makes a valid checkpoint."""
    records = build(5)
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), 5, records[-1].hash)
    real = Ed25519PrivateKey.generate()
    assert not checkpoint_valid(real.public_key(), 5, records[-1].hash, forged)


def test_canonical_form_ignores_key_order_but_not_values() -> None:
    """The hash is the same for the same fields in any order, different for any change."""
    a = {"event": "x", "user": "u1"}
    b = {"user": "u1", "event": "x"}
    assert link_hash(GENESIS, a) == link_hash(GENESIS, b)
    assert link_hash(GENESIS, a) != link_hash(GENESIS, {**a, "user": "u2"})
