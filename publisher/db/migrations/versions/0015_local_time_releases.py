"""local-time sends: a time zone per list, one release per time zone of a campaign, batches that belong to a release

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing_lists") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC"))
    op.create_table(
        "campaign_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("state", sa.Enum("pending", "released", name="release_state", native_enum=False, length=20), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "zone"),
    )
    with op.batch_alter_table("campaign_releases") as batch:
        batch.create_index("ix_campaign_releases_state_release_at", ["state", "release_at"], unique=False)
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("release_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_batches_release_id", "campaign_releases", ["release_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_batches_release_id", ["release_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_index("ix_batches_release_id")
        batch.drop_constraint("fk_batches_release_id", type_="foreignkey")
        batch.drop_column("release_id")
    with op.batch_alter_table("campaign_releases") as batch:
        batch.drop_index("ix_campaign_releases_state_release_at")
    op.drop_table("campaign_releases")
    with op.batch_alter_table("mailing_lists") as batch:
        batch.drop_column("timezone")
