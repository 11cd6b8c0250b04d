"""Whole-database snapshots, to prove that a second import changed nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from paperfeed.store.db import Database
from paperfeed.store.models import Base

# Bookkeeping that records when work happened, not what the data is.
_VOLATILE = {"checkpoints"}


def dump(db: Database) -> dict[str, list[tuple]]:
    """Every row of every data table, sorted, with surrogate ids left out."""
    result = {}
    with db.sessions() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in _VOLATILE:
                continue
            columns = [c for c in table.columns if c.name != "id"]
            rows = session.execute(select(*columns)).all()
            result[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return result


def count(db: Database, table: str) -> int:
    with db.sessions() as session:
        return session.execute(
            select(func.count()).select_from(Base.metadata.tables[table])
        ).scalar_one()
