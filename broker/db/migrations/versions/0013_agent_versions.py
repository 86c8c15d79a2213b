"""Each host's last agent version, and the version its "outdated" alert was raised for.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("agent_version", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("outdated_alerted_version", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("outdated_alerted_version")
        batch.drop_column("agent_version")
