"""Open remote sessions per broker process, closed as broker_crashed after a crash.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("host_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_open_sessions_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_open_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_open_sessions")),
    )
    op.create_index(op.f("ix_open_sessions_replica"), "open_sessions", ["replica"])


def downgrade() -> None:
    op.drop_index(op.f("ix_open_sessions_replica"), table_name="open_sessions")
    op.drop_table("open_sessions")
