"""names per sign-up request: each request keeps its names and its confirmation email

A sign-up request's names stay in the consent history until the confirm link
of that request's email is used; only then do they become the subscriber's.
Existing rows get no names and no email: their links confirm and leave the
stored names as they are.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("first_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("last_name", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_consent_events_campaign_id", ["campaign_id"], unique=False)
        batch_op.create_foreign_key("fk_consent_events_campaign_id_campaigns", "campaigns", ["campaign_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_consent_events_campaign_id_campaigns", type_="foreignkey")
        batch_op.drop_index("ix_consent_events_campaign_id")
        batch_op.drop_column("last_name")
        batch_op.drop_column("first_name")
        batch_op.drop_column("campaign_id")
