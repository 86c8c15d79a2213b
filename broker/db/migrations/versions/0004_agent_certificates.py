"""Enrolled host agents: organization CAs, one-time enrollment codes, client certificates;
the shared agent token goes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Fail closed: every agent token stops working; hosts enroll with a code instead.
    op.drop_index(op.f("ix_agent_credentials_org_id"), table_name="agent_credentials")
    op.drop_table("agent_credentials")

    op.create_table(
        "organization_cas",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("cert_pem", sa.String(length=4000), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_organization_cas_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_cas")),
        sa.UniqueConstraint("org_id", name=op.f("uq_organization_cas_org_id")),
    )
    op.create_table(
        "agent_enrollment_codes",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("host_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_agent_enrollment_codes_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_agent_enrollment_codes_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_enrollment_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_agent_enrollment_codes_code_hash")),
    )
    op.create_index(op.f("ix_agent_enrollment_codes_org_id"), "agent_enrollment_codes", ["org_id"])
    op.create_table(
        "agent_certificates",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("host_id", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("spki_sha256", sa.String(length=64), nullable=False),
        sa.Column("cert_pem", sa.String(length=4000), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_agent_certificates_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_certificates")),
        sa.UniqueConstraint("org_id", "serial", name=op.f("uq_agent_certificates_org_id")),
    )
    op.create_index(
        op.f("ix_agent_certificates_org_id_host_id"),
        "agent_certificates",
        ["org_id", "host_id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_certificates_org_id_host_id"), table_name="agent_certificates")
    op.drop_table("agent_certificates")
    op.drop_index(op.f("ix_agent_enrollment_codes_org_id"), table_name="agent_enrollment_codes")
    op.drop_table("agent_enrollment_codes")
    op.drop_table("organization_cas")
    op.create_table(
        "agent_credentials",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_agent_credentials_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_agent_credentials_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_credentials")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_credentials_token_hash")),
    )
    op.create_index(op.f("ix_agent_credentials_org_id"), "agent_credentials", ["org_id"])
