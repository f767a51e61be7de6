"""resends: a campaign sent again to the non-openers of another, once per campaign

Downgrading keeps the resends: each is an ordinary issue campaign with its
own ledger, which the code before this revision reads as it is. Only the
link to its first campaign is lost, and with it the rule that a campaign is
resent once.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("resend_of", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_campaigns_resend_of", "campaigns", ["resend_of"], ["id"], ondelete="SET NULL")
        batch.create_unique_constraint("uq_campaigns_resend_of", ["resend_of"])


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_constraint("uq_campaigns_resend_of", type_="unique")
        batch.drop_constraint("fk_campaigns_resend_of", type_="foreignkey")
        batch.drop_column("resend_of")
