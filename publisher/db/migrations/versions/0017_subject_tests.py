"""subject-line tests: a campaign's subject variants, its test set-up and decision, each record's variant; the remainder's release

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("subject_variants", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("ab_share", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ab_wait_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ab_metric", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("ab_winner", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ab_decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ab_decision", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("ab_decided_by", sa.String(length=400), nullable=True))
        batch.add_column(sa.Column("ab_statistic", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ab_p_value", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ab_results", sa.JSON(), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("variant", sa.Integer(), nullable=True))
    # The remainder of a subject test waits in a release of its own, which has no time zone.
    with op.batch_alter_table("campaign_releases") as batch:
        batch.alter_column("zone", existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column("subject_test", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.execute("DELETE FROM campaign_releases WHERE zone IS NULL")
    with op.batch_alter_table("campaign_releases") as batch:
        batch.drop_column("subject_test")
        batch.alter_column("zone", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("variant")
    with op.batch_alter_table("campaigns") as batch:
        for name in (
            "ab_results",
            "ab_p_value",
            "ab_statistic",
            "ab_decided_by",
            "ab_decision",
            "ab_decided_at",
            "ab_winner",
            "ab_metric",
            "ab_wait_seconds",
            "ab_share",
            "subject_variants",
        ):
            batch.drop_column(name)
