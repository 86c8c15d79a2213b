"""How a clinic lets people write on the host: host IME, viewer text or both.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing clinics keep what they had: keys only, the host's own IME composes.
    with op.batch_alter_table("org_policies") as batch:
        batch.add_column(
            sa.Column("text_entry", sa.String(length=16), nullable=False, server_default="host_ime")
        )


def downgrade() -> None:
    with op.batch_alter_table("org_policies") as batch:
        batch.drop_column("text_entry")
