"""Lockout counted atomically: one counter row per account name or source address.

The failure log (one row per failure, counted afterwards) let concurrent guesses all pass
the count before any of them was written (issue 12). The counter is reserved by one
conditional UPDATE instead (broker/identity/lockout.py). Locks and counts in force at the
upgrade start afresh: they last 15 minutes at most.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_login_failures_scope_key_at"), table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_table("lockouts")
    op.create_table(
        "lockouts",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_lockouts")),
    )


def downgrade() -> None:
    op.drop_table("lockouts")
    op.create_table(
        "lockouts",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_lockouts")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", ID, nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        op.f("ix_login_failures_scope_key_at"),
        "login_failures",
        ["scope", "key", "at"],
        unique=False,
    )
