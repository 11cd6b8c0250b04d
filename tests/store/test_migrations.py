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


def test_0007_renders_existing_comments_and_keeps_the_first_admin(database_url: str) -> None:
    """Comments written before 0007 get their stored HTML; a site with accounts has had its
    first one, so no later registration becomes admin."""
    from sqlalchemy import text

    from paperfeed.community import accounts

    engine = make_engine(database_url)
    migrate.upgrade(engine, "0006")
    with engine.begin() as connection:
        user_id = connection.execute(text(
            "INSERT INTO users (username, email, password_hash, is_admin, created_at) "
            "VALUES ('old', 'old@example.org', 'x', true, '2025-01-01 00:00:00') RETURNING id"
        )).scalar_one()
        connection.execute(text(
            "INSERT INTO papers (id, title, abstract, categories, upvotes_base, upvotes_local, "
            "comments_local, metadata_source) VALUES ('2501.00001', 'T', '', '', 0, 0, 1, 'arxiv')"
        ))
        connection.execute(text(
            "INSERT INTO comments (paper_id, user_id, body, created_at, hidden) "
            "VALUES ('2501.00001', :user, '**bold** <i>', '2025-01-01 00:00:00', false)"
        ), {"user": user_id})
    migrate.upgrade(engine)
    with engine.connect() as connection:
        html = connection.execute(text("SELECT html FROM comments")).scalar_one()
    assert html == "<p><strong>bold</strong> &lt;i&gt;</p>\n"
    engine.dispose()
    with Database(database_url) as db, db.transaction() as session:
        user = accounts.create_user(session, "newcomer", "n@example.org", "a long password")
        assert not user.is_admin
