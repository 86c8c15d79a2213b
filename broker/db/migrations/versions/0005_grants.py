"""Grants with weekly windows, the organization's time zone, vendor session requests.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Existing organizations get the default grants a new one gets (broker/access/grants.py
DEFAULT_GRANTS: admins and doctors open every host with control at any time), so an upgrade
does not lock a running clinic out; staff and vendors get nothing until an admin decides.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# A copy, not an import: a migration must keep meaning what it meant when it was written.
_SEEDED_ROLES = ("admin", "doctor")


def upgrade() -> None:
    op.add_column(
        "organizations",
        sa.Column("time_zone", sa.String(length=64), server_default="Asia/Tokyo", nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("host_ref", ID, nullable=True),
        sa.Column("access", sa.String(length=8), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", ID, nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("access IN ('view', 'control')", name=op.f("ck_grants_access")),
        sa.CheckConstraint("(user_id IS NULL) <> (role IS NULL)", name=op.f("ck_grants_subject")),
        sa.CheckConstraint(
            "role IS NULL OR role IN ('admin', 'doctor', 'staff', 'vendor')",
            name=op.f("ck_grants_role"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_grants_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_grants_user_id_users")),
        sa.ForeignKeyConstraint(["host_ref"], ["hosts.id"], name=op.f("fk_grants_host_ref_hosts")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_grants_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_grants_updated_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["users.id"], name=op.f("fk_grants_revoked_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    op.create_index(op.f("ix_grants_org_id"), "grants", ["org_id"])

    op.create_table(
        "grant_windows",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("grant_id", ID, nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.CheckConstraint("days BETWEEN 1 AND 127", name=op.f("ck_grant_windows_days")),
        sa.CheckConstraint(
            "start_minute BETWEEN 0 AND 1439", name=op.f("ck_grant_windows_start_minute")
        ),
        sa.CheckConstraint(
            "end_minute BETWEEN 0 AND 1439", name=op.f("ck_grant_windows_end_minute")
        ),
        sa.CheckConstraint("start_minute <> end_minute", name=op.f("ck_grant_windows_not_empty")),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_grant_windows_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_grant_windows_grant_id_grants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_windows")),
    )
    op.create_index(op.f("ix_grant_windows_org_id"), "grant_windows", ["org_id"])
    op.create_index(op.f("ix_grant_windows_grant_id"), "grant_windows", ["grant_id"])

    op.create_table(
        "vendor_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("host_ref", ID, nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'denied', 'used')",
            name=op.f("ck_vendor_requests_state"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_vendor_requests_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_vendor_requests_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["host_ref"], ["hosts.id"], name=op.f("fk_vendor_requests_host_ref_hosts")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_vendor_requests_decided_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_requests")),
    )
    op.create_index(op.f("ix_vendor_requests_org_id"), "vendor_requests", ["org_id"])
    op.create_index(op.f("ix_vendor_requests_user_id"), "vendor_requests", ["user_id"])
    op.create_index(op.f("ix_vendor_requests_org_id_state"), "vendor_requests", ["org_id", "state"])

    _seed_existing_organizations()


def _seed_existing_organizations() -> None:
    connection = op.get_bind()
    organizations = sa.table("organizations", sa.column("id", ID))
    grants = sa.table(
        "grants",
        sa.column("org_id", ID),
        sa.column("role", sa.String),
        sa.column("access", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    # SQLite stores naive UTC (broker.db.models.UtcDateTime does the same).
    stamp = now.replace(tzinfo=None) if connection.dialect.name == "sqlite" else now
    rows = [
        {"org_id": org_id, "role": role, "access": "control", "created_at": stamp}
        for org_id in connection.execute(sa.select(organizations.c.id)).scalars()
        for role in _SEEDED_ROLES
    ]
    if rows:
        op.bulk_insert(grants, rows)


def downgrade() -> None:
    op.drop_table("vendor_requests")
    op.drop_table("grant_windows")
    op.drop_table("grants")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("time_zone")
