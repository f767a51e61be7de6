"""events, their registrants, event audiences, approvals of recap drafts, inbound platform deliveries

An event's audiences (attended, no-show) are lists marked with the event;
their members come from the registrants, not from subscriptions. A recap
draft names its event, once per audience, and may wait for an approval.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(60), nullable=False, unique=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("platform_id", sa.String(100), nullable=True),
        sa.Column("starts_at", WHEN, nullable=True),
        sa.Column("ends_at", WHEN, nullable=True),
        sa.Column("timezone", sa.String(60), nullable=False),
        sa.Column("venue", sa.String(500), nullable=True),
        sa.Column("online_url", sa.String(2000), nullable=True),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("speakers", sa.JSON(), nullable=False),
        sa.Column("recap_rule", sa.String(10), nullable=True),
        sa.Column("auto_send_after", sa.Integer(), nullable=True),
        sa.Column("end_signal_at", WHEN, nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("recap_done_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("source", "platform_id"),
    )
    op.create_table(
        "event_registrants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("platform_id", sa.String(100), nullable=True),
        sa.Column("registered_at", WHEN, nullable=False),
        sa.Column("attendance", sa.Enum("yes", "no", "unknown", name="attendance", native_enum=False, length=20), nullable=False),
        sa.Column("checked_in_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("event_id", "subscriber_id"),
    )
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.UniqueConstraint("source", "dedupe_key"),
    )
    with op.batch_alter_table("mailing_lists") as batch:
        batch.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("event_audience", sa.String(20), nullable=True))
        batch.create_foreign_key("fk_mailing_lists_event_id", "events", ["event_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_mailing_lists_event_id", ["event_id"])
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("recap_event_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(400), nullable=True))
        batch.add_column(sa.Column("approved_at", WHEN, nullable=True))
        batch.add_column(sa.Column("auto_send_at", WHEN, nullable=True))
        batch.create_foreign_key("fk_campaigns_recap_event_id", "events", ["recap_event_id"], ["id"], ondelete="SET NULL")
        batch.create_unique_constraint("uq_campaigns_recap_event_list", ["recap_event_id", "list_id"])


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_constraint("uq_campaigns_recap_event_list", type_="unique")
        batch.drop_constraint("fk_campaigns_recap_event_id", type_="foreignkey")
        for column in ("auto_send_at", "approved_at", "approved_by", "recap_event_id"):
            batch.drop_column(column)
    with op.batch_alter_table("mailing_lists") as batch:
        batch.drop_index("ix_mailing_lists_event_id")
        batch.drop_constraint("fk_mailing_lists_event_id", type_="foreignkey")
        batch.drop_column("event_audience")
        batch.drop_column("event_id")
    for table in ("inbound_events", "event_registrants", "events"):
        op.drop_table(table)
