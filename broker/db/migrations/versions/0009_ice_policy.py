"""A clinic's ICE policy: relay only or not, and whether LAN-range candidates are admitted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("org_policies") as batch:
        batch.add_column(
            sa.Column("ice_policy", sa.String(length=8), nullable=False, server_default="all")
        )
        batch.add_column(
            sa.Column("lan_candidates", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("org_policies") as batch:
        batch.drop_column("lan_candidates")
        batch.drop_column("ice_policy")
