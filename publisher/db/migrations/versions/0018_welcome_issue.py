"""welcome issues: a list's welcome campaign, welcome campaigns and who was given one

Downgrading deletes the welcome campaigns (kind ``welcome``) with their
ledger: the code before this revision knows no such kind. A welcome still
going out stops; the people already welcomed keep no record of it.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing_lists") as batch:
        batch.add_column(sa.Column("welcome_campaign_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_mailing_lists_welcome_campaign_id", "campaigns", ["welcome_campaign_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("welcome_of", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_campaigns_welcome_of", "campaigns", ["welcome_of"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_campaigns_welcome_of", ["welcome_of"], unique=False)
    op.create_table(
        "welcome_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("template_id", "subscriber_id"),
    )
    with op.batch_alter_table("welcome_sends") as batch:
        batch.create_index("ix_welcome_sends_subscriber_id", ["subscriber_id"], unique=False)
        batch.create_index("ix_welcome_sends_campaign_id", ["campaign_id"], unique=False)


#: The welcome campaigns, which the code before this revision cannot read.
WELCOME_CAMPAIGNS = "SELECT id FROM campaigns WHERE kind = 'welcome'"


def downgrade() -> None:
    # One by one, children first: SQLite runs migrations with its foreign keys (and so their cascades) off.
    for statement in (
        f"DELETE FROM delivery_events WHERE delivery_id IN (SELECT id FROM deliveries WHERE campaign_id IN ({WELCOME_CAMPAIGNS}))",
        f"DELETE FROM engagements WHERE campaign_id IN ({WELCOME_CAMPAIGNS})",
        f"DELETE FROM deliveries WHERE campaign_id IN ({WELCOME_CAMPAIGNS})",
        f"DELETE FROM batches WHERE campaign_id IN ({WELCOME_CAMPAIGNS})",
        f"DELETE FROM campaign_releases WHERE campaign_id IN ({WELCOME_CAMPAIGNS})",
        f"DELETE FROM idempotency_keys WHERE campaign_id IN ({WELCOME_CAMPAIGNS})",
        f"UPDATE consent_events SET campaign_id = NULL WHERE campaign_id IN ({WELCOME_CAMPAIGNS})",
        "DELETE FROM campaigns WHERE kind = 'welcome'",
    ):
        op.execute(statement)
    with op.batch_alter_table("welcome_sends") as batch:
        batch.drop_index("ix_welcome_sends_campaign_id")
        batch.drop_index("ix_welcome_sends_subscriber_id")
    op.drop_table("welcome_sends")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_index("ix_campaigns_welcome_of")
        batch.drop_constraint("fk_campaigns_welcome_of", type_="foreignkey")
        batch.drop_column("welcome_of")
    with op.batch_alter_table("mailing_lists") as batch:
        batch.drop_constraint("fk_mailing_lists_welcome_campaign_id", type_="foreignkey")
        batch.drop_column("welcome_campaign_id")
