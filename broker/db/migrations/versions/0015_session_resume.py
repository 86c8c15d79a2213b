"""What a broker needs to re-adopt a live session after a restart (issue 18): the browser
session and viewing device it was opened from, its mode, the hash of the page's resume secret,
and why its broker stopped (a graceful shutdown; none: a crash).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("open_sessions") as batch:
        batch.add_column(sa.Column("owner_id", ID, nullable=True))
        batch.add_column(sa.Column("device_id", ID, nullable=True))
        batch.add_column(
            sa.Column("view_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("resume_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("suspended_reason", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("open_sessions") as batch:
        batch.drop_column("suspended_reason")
        batch.drop_column("resume_hash")
        batch.drop_column("view_only")
        batch.drop_column("device_id")
        batch.drop_column("owner_id")
