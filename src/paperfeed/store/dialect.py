"""What differs between SQLite and PostgreSQL, written once: INSERT ... ON CONFLICT, row counts."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause

# Both dialects' Insert constructs spell ON CONFLICT the same way (on_conflict_do_update /
# on_conflict_do_nothing with index_elements, and `.excluded`), so callers write it once.
Insert = postgresql.Insert | sqlite.Insert


def insert(session: Session, table: Table | FromClause) -> Insert:
    """An INSERT into `table` (or a model's __table__) that can take ON CONFLICT clauses."""
    target = cast(Table, table)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(target)
    return sqlite.insert(target)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (both drivers report it for those statements)."""
    return cast(CursorResult[Any], result).rowcount
