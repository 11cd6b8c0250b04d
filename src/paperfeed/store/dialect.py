"""What differs between SQLite and PostgreSQL, written once: INSERT ... ON CONFLICT."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# Both dialects' Insert constructs spell ON CONFLICT the same way (on_conflict_do_update /
# on_conflict_do_nothing with index_elements, and `.excluded`), so callers write it once.
Insert = postgresql.Insert | sqlite.Insert


def insert(session: Session, table: Table) -> Insert:
    """An INSERT into `table` that can take ON CONFLICT clauses on the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
