"""One migrated PostgreSQL database per test process, handed to each test emptied and under a new name.

Creating a database and migrating it took about three quarters of a second a
test, most of a short test's time. Emptying the tables of one kept database
takes a twentieth of that. What a test may leave behind is handled so the next
test still starts as if on a fresh database:

* rows: every table is emptied and every sequence restarted, so ids start at 1;
* a process still connected (a worker that outlived its test): its sessions
  are ended and the database renamed, so it cannot reach the next test's data;
* a changed schema (a test that downgrades a migration): the schema's
  fingerprint no longer matches, and the database is made again from scratch.
"""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from publisher.db.engine import open_database
from publisher.db.models import Base

#: Tables, columns, indexes, constraints and the revision: what a test could change about the schema.
FINGERPRINT = """
SELECT md5(coalesce(string_agg(item, ',' ORDER BY item), '')) FROM (
    SELECT 'c ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
           || coalesce(column_default, '') AS item
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'i ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 'k ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
      WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'v ' || version_num FROM alembic_version
) AS items
"""

#: Children before parents, so no foreign key refuses a delete.
EMPTYING_ORDER = [table.name for table in reversed(Base.metadata.sorted_tables)]

#: How long ending a leftover session may take before the rename is tried anyway.
TERMINATE_WAIT_MS = 5000

#: Tries at renaming while a leftover process keeps reconnecting, before making a new database instead.
RENAME_TRIES = 5


class PostgresPool:
    """The test process's kept database, reached through ``admin_url``'s server."""

    def __init__(self, admin_url: str) -> None:
        self.url = make_url(admin_url)
        self.admin = psycopg.connect(self._plain(self.url.database or "postgres"), autocommit=True, connect_timeout=3)
        self.name = ""
        self.fingerprint = ""
        self._make()

    def take(self) -> str:
        """The database for the next test, as a SQLAlchemy URL: migrated to head, empty, under a name no one has used."""
        if not self._rename(_new_name()):
            self._drop()
            self._make()
        try:
            with psycopg.connect(self._plain(self.name)) as connection:
                if connection.execute(FINGERPRINT).fetchone() == (self.fingerprint,):
                    _empty(connection)
                    return self._url()
        except psycopg.errors.UndefinedTable:  # alembic_version dropped: a schema no longer ours
            pass
        self._drop()
        self._make()
        return self._url()

    def close(self) -> None:
        self._drop()
        self.admin.close()

    def _make(self) -> None:
        self.name = _new_name()
        self.admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        open_database(self._url()).dispose()
        with psycopg.connect(self._plain(self.name)) as connection:
            row = connection.execute(FINGERPRINT).fetchone()
        self.fingerprint = row[0] if row else ""

    def _rename(self, new: str) -> bool:
        for _ in range(RENAME_TRIES):
            self.admin.execute(
                "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (TERMINATE_WAIT_MS, self.name),
            )
            try:
                self.admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(self.name), sql.Identifier(new)))
            except psycopg.errors.ObjectInUse:  # a session came back between the two statements
                continue
            self.name = new
            return True
        return False

    def _drop(self) -> None:
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))

    def _url(self) -> str:
        return self.url.set(database=self.name).render_as_string(hide_password=False)

    def _plain(self, database: str) -> str:
        return self.url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def _empty(connection: psycopg.Connection) -> None:
    for table in EMPTYING_ORDER:
        connection.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
    sequences = connection.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall()
    for (sequence,) in sequences:
        connection.execute(sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.Identifier(sequence)))


def _new_name() -> str:
    return f"newsletter_test_{uuid.uuid4().hex[:12]}"
