"""Storage: migrations apply themselves to a fresh database; SQLite runs in WAL mode with a busy timeout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from publisher.db.engine import BUSY_TIMEOUT_MS, Database, alembic_config, open_database, schema_change
from tests.support.paths import PROJECT


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_fresh_database_is_migrated_to_head(db: Database) -> None:
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
    tables = set(inspect(db.engine).get_table_names())
    assert {"mailing_lists", "subscribers", "subscriptions", "campaigns", "batches", "deliveries"} <= tables


def test_reopening_a_migrated_database_changes_nothing(database_url: str) -> None:
    open_database(database_url).dispose()
    again = open_database(database_url)
    with again.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
    again.dispose()


def test_migrations_upgrade_and_downgrade_cleanly(db: Database) -> None:
    from alembic import command

    config = alembic_config()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert "deliveries" not in inspect(db.engine).get_table_names()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert "deliveries" in inspect(db.engine).get_table_names()


def test_migrations_build_exactly_the_schema_the_models_describe(db: Database) -> None:
    """A model change without its migration (or the reverse) shows up here, not on an operator's database."""
    from alembic.autogenerate import compare_metadata

    from publisher.db.models import Base

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'var' / 'n.db'}")
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_MS
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.dispose()


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    script = "import sys; from publisher.db.engine import open_database; open_database(sys.argv[1]).dispose()"
    processes = [subprocess.Popen([sys.executable, "-c", script, database_url], cwd=PROJECT, stderr=subprocess.PIPE) for _ in range(4)]
    errors = [process.communicate(timeout=60)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    database = open_database(database_url)
    with database.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
    database.dispose()
