"""tracking: opens and clicks per delivery, classified human or machine; tracking per list and per campaign

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing_lists") as batch:
        batch.add_column(sa.Column("tracking", sa.Boolean(), nullable=False, server_default=sa.true()))
    # Campaigns published before tracking existed carried no pixel and no tracked link.
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("tracking", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("tracked_links", sa.JSON(), nullable=True))
    op.create_table(
        "engagements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("open", "click", name="engagement_kind", native_enum=False, length=20), nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("machine", sa.Boolean(), nullable=False),
        sa.Column("machine_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("engagements") as batch:
        batch.create_index("ix_engagements_campaign_kind", ["campaign_id", "kind"], unique=False)
        batch.create_index("ix_engagements_delivery_id", ["delivery_id"], unique=False)
        batch.create_index("ix_engagements_occurred_at", ["occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("engagements") as batch:
        batch.drop_index("ix_engagements_occurred_at")
        batch.drop_index("ix_engagements_delivery_id")
        batch.drop_index("ix_engagements_campaign_kind")
    op.drop_table("engagements")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("tracked_links")
        batch.drop_column("tracking")
    with op.batch_alter_table("mailing_lists") as batch:
        batch.drop_column("tracking")
