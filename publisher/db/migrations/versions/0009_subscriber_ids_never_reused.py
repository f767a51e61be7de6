"""subscriber ids are never handed out again

Signed links name a subscriber by id. Without AUTOINCREMENT, SQLite gives a
new row the highest id plus one, so erasing the newest subscriber and
importing someone made the erased person's links act on the newcomer. The
table is rebuilt with AUTOINCREMENT (PostgreSQL's sequences never go back,
so there is nothing to do there).

The counter starts past every id that may have been erased before this
upgrade. Nothing left in the database names an erased id, but each erasure
leaves at least one hash-only suppression entry, and every id above today's
highest one belonged to a subscriber deleted by an erasure; so today's
highest id plus the number of hash-only entries is past all of them. A margin
covers hash-only entries an operator removed since.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Every subscriber id still named somewhere (FKs keep them all in subscribers, but a count costs nothing).
HIGHEST_KNOWN_ID = (
    "SELECT MAX(id) FROM ("
    " SELECT MAX(id) AS id FROM subscribers"
    " UNION ALL SELECT MAX(subscriber_id) FROM subscriptions"
    " UNION ALL SELECT MAX(subscriber_id) FROM deliveries)"
)
#: Rows that dropping the subscribers table would delete or change while foreign keys are on.
REFERENCED = "SELECT EXISTS (SELECT 1 FROM subscriptions) OR EXISTS (SELECT 1 FROM deliveries WHERE subscriber_id IS NOT NULL)"
ERASED_ENTRIES = "SELECT COUNT(*) FROM suppressions WHERE email IS NULL"
#: Added to the counter of a database that has held subscribers: an operator
#: may have removed erased entries (``suppressions remove --include-erased``),
#: and ids cost nothing (MAX_ID is over two billion).
ID_MARGIN = 1_000_000


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    _refuse_with_foreign_keys_on(connection)
    highest = connection.execute(sa.text(HIGHEST_KNOWN_ID)).scalar() or 0
    erased = connection.execute(sa.text(ERASED_ENTRIES)).scalar() or 0
    start = highest + erased + ID_MARGIN if highest or erased else 0
    with op.batch_alter_table("subscribers", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass
    connection.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'subscribers'"))
    connection.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('subscribers', :seq)"), {"seq": start})


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    _refuse_with_foreign_keys_on(connection)
    with op.batch_alter_table("subscribers", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass


def _refuse_with_foreign_keys_on(connection: sa.Connection) -> None:
    # Rebuilding drops the old table: with foreign keys on, that deletes
    # every subscription and empties the ledger's subscriber ids.
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar() and connection.execute(sa.text(REFERENCED)).scalar():
        raise RuntimeError("rebuilding subscribers needs SQLite's foreign keys off: migrate through publisher.db.engine.migrate")
