"""Per-clinic allow-lists of source networks (MHLW.md row 17).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_networks",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "audience IN ('everyone', 'admin', 'vendor')",
            name=op.f("ck_source_networks_audience"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_source_networks_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_source_networks_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_networks")),
        sa.UniqueConstraint(
            "org_id", "audience", "network", name=op.f("uq_source_networks_org_id")
        ),
    )
    op.create_index(op.f("ix_source_networks_org_id"), "source_networks", ["org_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_source_networks_org_id"), table_name="source_networks")
    op.drop_table("source_networks")
