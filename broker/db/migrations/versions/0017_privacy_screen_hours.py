"""Opening hours per clinic; the privacy screen becomes off / outside opening hours / always.

``org_policies.block_local_input`` (a yes/no) becomes ``privacy_screen``: a stored yes is
``always`` and a stored no ``off``. A row exists only where an admin saved the settings page,
so its value was a choice; carrying it over unchanged keeps that choice (a clinic that said
no must not find its PC taken from the room after an upgrade). Clinics without a row get
the broker's default, now "outside opening hours".

Every existing clinic gets the default opening hours a new one gets (月〜金 09:00-18:00,
土 09:00-12:00; broker/access/opening_hours.py DEFAULT_HOURS), so "outside opening hours"
means something at once; its admin corrects them on the settings page.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# A copy, not an import: a migration must keep meaning what it meant when it was written.
# (days mask with bit 0 = Monday, start minute, end minute)
_DEFAULT_HOURS = ((0b0011111, 9 * 60, 18 * 60), (0b0100000, 9 * 60, 12 * 60))


def upgrade() -> None:
    op.create_table(
        "opening_hours",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.CheckConstraint("days BETWEEN 1 AND 127", name=op.f("ck_opening_hours_days")),
        sa.CheckConstraint(
            "start_minute BETWEEN 0 AND 1439", name=op.f("ck_opening_hours_start_minute")
        ),
        sa.CheckConstraint(
            "end_minute BETWEEN 1 AND 1440", name=op.f("ck_opening_hours_end_minute")
        ),
        sa.CheckConstraint("start_minute < end_minute", name=op.f("ck_opening_hours_not_empty")),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_opening_hours_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opening_hours")),
    )
    op.create_index(op.f("ix_opening_hours_org_id"), "opening_hours", ["org_id"])
    seed = sa.text(
        "INSERT INTO opening_hours (org_id, days, start_minute, end_minute) "
        "SELECT id, CAST(:days AS INTEGER), CAST(:start AS INTEGER), CAST(:end AS INTEGER) "
        "FROM organizations ORDER BY id"
    )
    for days, start, end in _DEFAULT_HOURS:
        op.get_bind().execute(seed, {"days": days, "start": start, "end": end})

    with op.batch_alter_table("org_policies") as batch:
        batch.add_column(sa.Column("privacy_screen", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE org_policies SET privacy_screen = "
        "CASE WHEN block_local_input THEN 'always' ELSE 'off' END"
    )
    with op.batch_alter_table("org_policies") as batch:
        batch.alter_column("privacy_screen", existing_type=sa.String(length=16), nullable=False)
        batch.create_check_constraint(
            "privacy_screen", "privacy_screen IN ('off', 'outside_hours', 'always')"
        )
        batch.drop_column("block_local_input")


def downgrade() -> None:
    # Back to a yes/no: "outside opening hours" becomes yes, the protective side.
    with op.batch_alter_table("org_policies") as batch:
        batch.add_column(sa.Column("block_local_input", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE org_policies SET block_local_input = "
        "CASE WHEN privacy_screen = 'off' THEN FALSE ELSE TRUE END"
    )
    with op.batch_alter_table("org_policies") as batch:
        batch.alter_column("block_local_input", existing_type=sa.Boolean(), nullable=False)
        batch.drop_constraint(op.f("ck_org_policies_privacy_screen"), type_="check")
        batch.drop_column("privacy_screen")
    op.drop_index(op.f("ix_opening_hours_org_id"), table_name="opening_hours")
    op.drop_table("opening_hours")
