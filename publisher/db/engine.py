"""Engine set-up and automatic migrations.

Every command calls :func:`open_database`, which brings a fresh or older
database to the newest schema before anything reads it: there is no separate
init step. SQLite runs in WAL mode with a busy timeout. A transaction that
writes (``Database.transaction``) starts with ``BEGIN IMMEDIATE``, so that
concurrent workers queue for the one write lock instead of failing when a
transaction that began by reading tries to upgrade. A transaction that only
reads (``Database.reading``) starts with a plain ``BEGIN`` and takes no lock:
in WAL mode it reads a snapshot while a writer works. SQLite refuses any
write inside it (``PRAGMA query_only``), so a write put there by mistake
fails at once instead of waiting for, or racing, the write lock.

Migrations run with SQLite's foreign keys off, as SQLite's own procedure for
rebuilding a table asks: dropping a table that others reference would
otherwise delete (or null) every row that points at it. The references are
checked before the migration commits.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.errors import DatabaseUnavailableError
from publisher.core.private_files import create_private_file, open_private, private_directory
from publisher.db.liveness import check_on_checkout

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: The newest migration's revision (a test checks it is alembic's head). A
#: database already there is recognised without importing alembic, which
#: costs about 0.1 s of CPU in every command.
HEAD_REVISION = "0020"
# Alembic announces its dialect at INFO whenever a revision is read: every
# command and every sweep would log it.
logging.getLogger("alembic").setLevel(logging.WARNING)
BUSY_TIMEOUT_MS = 30_000
#: Arbitrary constant naming this project's migration lock in PostgreSQL.
PG_MIGRATION_LOCK = 72_634_011


#: The execution option that marks a read-only transaction (``Database.reading``).
READ_ONLY = "newsletter_read_only"

#: Where a session finds the keys that hash addresses (``publisher.audience.suppressions``): newest first.
SECRET_KEYS = "secret_keys"  # noqa: S105 (the name of a session.info entry, not a secret)


@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session whose work is committed on success and rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Yield a session for a transaction that only reads: on SQLite it waits for no writer and holds up none.

        Writing in it is an error on SQLite (``attempt to write a readonly
        database``); use ``transaction`` for anything that may write.
        """
        with self.readers.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, secret_keys: Sequence[str] = ()) -> Database:
    """Connect to ``url``, migrate it to the newest schema and return it.

    ``secret_keys`` (``Settings.secret_keys``: the signing key, then the
    retired ones) key the hashes of addresses the suppression list keeps;
    every session carries them. Code that never hashes an address may leave
    them out.

    Raise DatabaseUnavailableError, naming the URL without its password,
    when the database cannot be reached: every command opens it before it
    writes anything.
    """
    try:
        engine = create_db_engine(url)
    except OSError as exc:
        # SQLite: the database's directory cannot be created there.
        raise _unavailable(url, f"{exc.strerror}: {exc.filename}") from exc
    try:
        engine.connect().close()
    except (OperationalError, InterfaceError) as exc:
        engine.dispose()
        raise _unavailable(url, str(exc.orig)) from exc
    migrate(engine)
    info = {SECRET_KEYS: tuple(secret_keys)}
    sessions = sessionmaker(engine, expire_on_commit=False, info=info)
    readers = sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False, info=info)
    return Database(engine=engine, sessions=sessions, readers=readers)


def _unavailable(url: str, reason: str) -> DatabaseUnavailableError:
    # Drivers explain over several lines; the message is one.
    reason = " ".join(reason.split())
    parsed = make_url(url)
    if parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    shown = parsed.render_as_string(hide_password=True)
    return DatabaseUnavailableError(f"cannot reach the database at {shown} ({reason}); nothing was written")


def create_db_engine(url: str) -> Engine:
    # hide_parameters: bound values are subscribers' addresses and names;
    # an error message or a log line must not carry them.
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Not pool_pre_ping: its SELECT 1 was a round trip per transaction.
        server = create_engine(url, hide_parameters=True)
        check_on_checkout(server)
        return server
    if parsed.database and parsed.database != ":memory:":
        # SQLite gives its -wal and -shm files the database file's mode.
        private_directory(Path(parsed.database).parent)
        create_private_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, hide_parameters=True)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin)
    event.listen(engine.pool, "reset", _reset)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook issue BEGIN itself (pysqlite's own
    # transaction handling would defer it and break BEGIN IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin(connection: Connection) -> None:
    if not connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    connection.exec_driver_sql("BEGIN")
    connection.exec_driver_sql("PRAGMA query_only=ON")
    connection.connection.info[READ_ONLY] = True


def _reset(dbapi_connection: Any, record: Any, _state: Any) -> None:
    # The pragma belongs to the connection, not to the transaction: it is
    # lifted whenever the connection goes back to the pool, however the
    # transaction ended, so the next one may write.
    if record.info.pop(READ_ONLY, False):
        dbapi_connection.execute("PRAGMA query_only=OFF")


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head, once even when several processes start together."""
    if _recorded_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    if _current_revision(engine) == head:
        return
    with _migration_lock(engine), schema_change(engine) as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def schema_change(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a transaction fit for migrations; committed on success.

    On SQLite, foreign keys are off for the transaction (the pragma is a no-op
    inside one, so it is set before it begins) and checked before the commit.
    """
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                yield connection
            return
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows pointing at missing rows: {broken[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def schema_is_current(engine: Engine) -> bool:
    """Whether the database's schema is the newest these migrations know (neither behind nor ahead)."""
    return _current_revision(engine) == _head_revision()


@functools.cache
def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _recorded_revision(engine: Engine) -> str | None:
    """The revision in alembic's version table when it holds exactly one, read without alembic; otherwise None."""
    with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions[0] if len(versions) == 1 else None


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_MIGRATION_LOCK})
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with os.fdopen(open_private(Path(f"{database}.migrate.lock")), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
