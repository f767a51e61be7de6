"""indexes for the monitoring counts: in-doubt records, dead letters, recent bounces and complaints

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

IN_DOUBT = sa.text("state = 'in_doubt'")
DEAD_LETTERED = sa.text("dead_lettered_at IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_deliveries_in_doubt", "deliveries", ["campaign_id"], sqlite_where=IN_DOUBT, postgresql_where=IN_DOUBT)
    op.create_index(
        "ix_deliveries_dead_lettered", "deliveries", ["campaign_id"], sqlite_where=DEAD_LETTERED, postgresql_where=DEAD_LETTERED
    )
    op.create_index("ix_delivery_events_type_created", "delivery_events", ["type", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_delivery_events_type_created", table_name="delivery_events")
    op.drop_index("ix_deliveries_dead_lettered", table_name="deliveries")
    op.drop_index("ix_deliveries_in_doubt", table_name="deliveries")
