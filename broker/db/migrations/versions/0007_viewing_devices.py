"""Viewing devices: admin-approved browser keys, and the challenges that open a viewer.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "viewing_devices",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.String(length=300), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'denied', 'revoked')",
            name=op.f("ck_viewing_devices_state"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_viewing_devices_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_viewing_devices_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_viewing_devices_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viewing_devices")),
        sa.UniqueConstraint("user_id", "fingerprint", name=op.f("uq_viewing_devices_user_id")),
    )
    op.create_index(op.f("ix_viewing_devices_org_id"), "viewing_devices", ["org_id"])
    op.create_index(op.f("ix_viewing_devices_user_id"), "viewing_devices", ["user_id"])

    op.create_table(
        "device_challenges",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("host_id", sa.String(length=64), nullable=False),
        sa.Column("challenge_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ticket_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["viewing_devices.id"],
            name=op.f("fk_device_challenges_device_id_viewing_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_device_challenges_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["browser_sessions.id"],
            name=op.f("fk_device_challenges_session_id_browser_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["viewer_tickets.id"],
            name=op.f("fk_device_challenges_ticket_id_viewer_tickets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_challenges")),
        sa.UniqueConstraint("challenge_hash", name=op.f("uq_device_challenges_challenge_hash")),
    )
    op.create_index(op.f("ix_device_challenges_session_id"), "device_challenges", ["session_id"])
    op.create_index(op.f("ix_device_challenges_ticket_id"), "device_challenges", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("device_challenges")
    op.drop_table("viewing_devices")
