"""The schema comes from Alembic migrations, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import inspect

from paperfeed.store import migrate
from paperfeed.store.db import Database, make_engine
from paperfeed.store.models import Base


def test_migrations_build_the_models_schema_and_go_down_and_up(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    assert migrate.is_up_to_date(engine)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    for table in Base.metadata.sorted_tables:
        columns = {c["name"] for c in inspect(engine).get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name

    migrate.upgrade(engine)  # a second run is a no-op
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.is_up_to_date(engine)
    engine.dispose()


def test_db_upgrade_command(database_url: str) -> None:
    env = {**os.environ, "PAPERFEED_DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout
    assert "devpass" not in result.stdout  # never print a password
    database = Database(database_url, migrate=False)
    assert migrate.is_up_to_date(database.engine)
    database.close()
