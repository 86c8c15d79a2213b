"""Organization policy for remote sessions, and compliance report reviews.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_policies",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("idle_s", sa.Integer(), nullable=False),
        sa.Column("max_s", sa.Integer(), nullable=False),
        sa.Column("warn_s", sa.Integer(), nullable=False),
        sa.Column("watermark", sa.Boolean(), nullable=False),
        sa.Column("block_local_input", sa.Boolean(), nullable=False),
        sa.Column("end_on_violation", sa.Boolean(), nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_org_policies_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_org_policies_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_org_policies")),
    )
    op.create_table(
        "report_reviews",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("reviewed_by", ID, nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_report_reviews_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_report_reviews_reviewed_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_reviews")),
    )
    op.create_index(op.f("ix_report_reviews_org_id"), "report_reviews", ["org_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_report_reviews_org_id"), table_name="report_reviews")
    op.drop_table("report_reviews")
    op.drop_table("org_policies")
