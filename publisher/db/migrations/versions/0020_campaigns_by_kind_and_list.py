"""campaigns by kind and list: a list's issues found without reading every campaign

Confirmations and welcome copies, one or two per sign-up, are most of the
campaigns; the console's lists page reads only the issues of each list
(its welcome field). Downgrading drops the index and nothing else.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_campaigns_kind_list_id", "campaigns", ["kind", "list_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_campaigns_kind_list_id", table_name="campaigns")
