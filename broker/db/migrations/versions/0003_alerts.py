"""Alerts: what a clinic owner is told, the delivery outbox, and each clinic's alert settings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", ID, nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'critical')", name=op.f("ck_alerts_severity")
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["users.id"], name=op.f("fk_alerts_acknowledged_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_alerts_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_org_id_created_at", "alerts", ["org_id", "created_at"])
    op.create_index("ix_alerts_org_id_kind_subject", "alerts", ["org_id", "kind", "subject"])

    op.create_table(
        "alert_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.CheckConstraint(
            "channel IN ('mail', 'webhook')", name=op.f("ck_alert_deliveries_channel")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'failed')", name=op.f("ck_alert_deliveries_state")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_deliveries_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_alert_deliveries_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
    )
    op.create_index(op.f("ix_alert_deliveries_alert_id"), "alert_deliveries", ["alert_id"])
    op.create_index(op.f("ix_alert_deliveries_org_id"), "alert_deliveries", ["org_id"])
    op.create_index(
        "ix_alert_deliveries_state_next_attempt_at",
        "alert_deliveries",
        ["state", "next_attempt_at"],
    )

    op.create_table(
        "alert_settings",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("mail_recipients", sa.String(length=2600), nullable=False),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("webhook_secret_sealed", sa.LargeBinary(length=200), nullable=True),
        sa.Column("usual_start_minute", sa.Integer(), nullable=True),
        sa.Column("usual_end_minute", sa.Integer(), nullable=True),
        sa.Column("agent_offline_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.CheckConstraint(
            "usual_start_minute IS NULL OR (usual_start_minute >= 0 AND usual_start_minute < 1440)",
            name=op.f("ck_alert_settings_usual_start_minute"),
        ),
        sa.CheckConstraint(
            "usual_end_minute IS NULL OR (usual_end_minute >= 0 AND usual_end_minute < 1440)",
            name=op.f("ck_alert_settings_usual_end_minute"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_alert_settings_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_alert_settings_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_alert_settings")),
    )


def downgrade() -> None:
    for name in ("alert_settings", "alert_deliveries", "alerts"):
        op.drop_table(name)
