"""one suppression entry per address and scope

Two webhooks reporting the same bounce at once could each add an entry.
Duplicates are merged (an erased person's entry, which keeps only the hash,
is the one kept), then unique indexes stop new ones.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM suppressions WHERE id NOT IN ("
        " SELECT COALESCE(MIN(CASE WHEN email IS NULL THEN id END), MIN(id)) FROM suppressions GROUP BY email_hash, list_id)"
    )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_suppressions_email_hash_list_id", ["email_hash", "list_id"])
    op.create_index(
        "uq_suppressions_email_hash_everywhere",
        "suppressions",
        ["email_hash"],
        unique=True,
        sqlite_where=sa.text("list_id IS NULL"),
        postgresql_where=sa.text("list_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_suppressions_email_hash_everywhere", table_name="suppressions")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_suppressions_email_hash_list_id", type_="unique")
