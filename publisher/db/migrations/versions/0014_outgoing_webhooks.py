"""outgoing webhooks: endpoints, and one message per event and endpoint until it is answered

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(400), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("disabled_at", WHEN, nullable=True),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
        sa.Column("last_success_at", WHEN, nullable=True),
        sa.Column("last_failure_at", WHEN, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("endpoint_id", sa.Integer(), sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=True),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("failed_at", WHEN, nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True, index=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True, index=True),
        sa.UniqueConstraint("endpoint_id", "message_id"),
    )
    op.create_index("ix_webhook_messages_due", "webhook_messages", ["delivered_at", "next_attempt_at"])
    op.create_index("ix_webhook_messages_failed_at", "webhook_messages", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_messages_failed_at", table_name="webhook_messages")
    op.drop_index("ix_webhook_messages_due", table_name="webhook_messages")
    op.drop_table("webhook_messages")
    op.drop_table("webhook_endpoints")
