"""User names unique per clinic, not across the broker; each clinic gets a sign-in code.

A global name let one clinic's admin learn another clinic's user names from
``username_taken``. Existing clinics get the code ``c<id>``; new ones a random code.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("code", sa.String(length=32), nullable=True))
    op.execute("UPDATE organizations SET code = 'c' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table("organizations") as batch:
        batch.alter_column("code", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint(op.f("uq_organizations_code"), ["code"])
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_username"), type_="unique")
        batch.create_unique_constraint(op.f("uq_users_org_id"), ["org_id", "username"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_org_id"), type_="unique")
        batch.create_unique_constraint(op.f("uq_users_username"), ["username"])
    with op.batch_alter_table("organizations") as batch:
        batch.drop_constraint(op.f("uq_organizations_code"), type_="unique")
        batch.drop_column("code")
