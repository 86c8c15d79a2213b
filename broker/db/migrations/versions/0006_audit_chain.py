"""Audit chain: sequence and hashes on every audit record, chain heads, signed checkpoints.

Records written before this revision are chained here in id order, per organization (and
one chain for broker-level events), exactly as the broker would have chained them.

The append-only triggers are replaced: UPDATE stays refused; DELETE is refused unless a
purge anchor (``audit_checkpoints`` kind ``purge``) covers the record, which only
``python -m broker audit purge`` writes, after exporting what it removes. Checkpoints are
append-only themselves. On PostgreSQL TRUNCATE is refused too (row triggers miss it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

# Frozen copy of the hashing of broker/audit/chain.py as it was when this migration was
# written: a migration must compute the same links forever, even if the live code changes
# (a new hashed field, another canonical form) in a later revision.
GENESIS = "0" * 64
HASHED_FIELDS = (
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


def chain_of(org_id: int | None) -> int:
    return 0 if org_id is None else org_id


def record_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: row[name] for name in HASHED_FIELDS}
    at = row["at"]
    if at.tzinfo is None:
        raise ValueError("naive datetime: audit times are UTC")
    fields["at"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return fields


def link_hash(previous_hash: str, record: Mapping[str, Any]) -> str:
    body = json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
    return hashlib.sha256(previous_hash.encode() + b"\n" + body).hexdigest()


ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_REFUSED = "audit_events is append-only"
# A record may be deleted only when a purge anchor of its chain covers it.
_PURGE_COVERS = (
    "EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.kind = 'purge' "
    "AND c.chain = OLD.chain AND c.sequence >= OLD.sequence)"
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_0001_triggers(dialect)
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("org_id", ID, nullable=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_audit_chain_heads_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chain_heads")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", ID, nullable=False),
        sa.Column("chain", sa.BigInteger(), nullable=False),
        sa.Column("org_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.CheckConstraint("kind IN ('periodic', 'purge')", name=op.f("ck_audit_checkpoints_kind")),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_audit_checkpoints_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_index(
        "ix_audit_checkpoints_chain_sequence", "audit_checkpoints", ["chain", "sequence"]
    )
    for name, type_ in (
        ("chain", sa.BigInteger()),
        ("sequence", sa.BigInteger()),
        ("prev_hash", sa.String(length=64)),
        ("hash", sa.String(length=64)),
    ):
        op.add_column("audit_events", sa.Column(name, type_, nullable=True))
    _chain_existing_records()
    with op.batch_alter_table("audit_events") as batch:
        for name, type_ in (
            ("chain", sa.BigInteger()),
            ("sequence", sa.BigInteger()),
            ("prev_hash", sa.String(length=64)),
            ("hash", sa.String(length=64)),
        ):
            batch.alter_column(name, existing_type=type_, nullable=False)
        batch.create_unique_constraint(op.f("uq_audit_events_chain"), ["chain", "sequence"])
    _create_triggers(dialect)


def _drop_0001_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def _chain_existing_records() -> None:
    """Link the records already written, per chain in id order, and note each chain's head."""
    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        *(
            sa.column(name)
            for name in (
                "id",
                "chain",
                "sequence",
                "prev_hash",
                "hash",
                "org_id",
                "actor_user_id",
                "actor",
                "event",
                "outcome",
                "source_address",
                "target_user_id",
                "detail",
            )
        ),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    heads: dict[int, tuple[int | None, int, str]] = {}
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    for row in rows:
        chain = chain_of(row["org_id"])
        _, sequence, previous = heads.get(chain, (row["org_id"], 0, GENESIS))
        at = row["at"] if row["at"].tzinfo is not None else row["at"].replace(tzinfo=UTC)
        fields = record_fields({**row, "at": at, "chain": chain, "sequence": sequence + 1})
        digest = link_hash(previous, fields)
        bind.execute(
            events.update()
            .where(events.c.id == row["id"])
            .values(chain=chain, sequence=sequence + 1, prev_hash=previous, hash=digest)
        )
        heads[chain] = (row["org_id"], sequence + 1, digest)
    head_table = sa.table(
        "audit_chain_heads",
        sa.column("chain"),
        sa.column("org_id"),
        sa.column("last_sequence"),
        sa.column("last_hash"),
    )
    for chain, (org_id, sequence, digest) in heads.items():
        bind.execute(
            head_table.insert().values(
                chain=chain, org_id=org_id, last_sequence=sequence, last_hash=digest
            )
        )


def _create_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF TG_OP = 'DELETE' AND {_PURGE_COVERS} THEN RETURN OLD; END IF; "
            f"RAISE EXCEPTION '{_REFUSED}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE "
            "ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            f"WHEN NOT {_PURGE_COVERS} "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
        )
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_checkpoints_no_{action.lower()} BEFORE {action} "
                "ON audit_checkpoints "
                "BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON audit_checkpoints")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        for name in (
            "audit_checkpoints_no_update",
            "audit_checkpoints_no_delete",
            "audit_events_no_update",
            "audit_events_no_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint(op.f("uq_audit_events_chain"), type_="unique")
        for name in ("hash", "prev_hash", "sequence", "chain"):
            batch.drop_column(name)
    op.drop_index("ix_audit_checkpoints_chain_sequence", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_heads")
    # The append-only triggers of revision 0001, as they were.
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_REFUSED}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{action.lower()} BEFORE {action} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
            )
