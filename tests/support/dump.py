"""Whole-database snapshots, to prove that a second import changed nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from paperfeed.store.db import Database
from paperfeed.store.models import Base

# Bookkeeping that records when work happened, not what the data is.
_VOLATILE = {"checkpoints", "site_version"}
# Surrogate keys are numbered in insertion order: compare rows by natural keys instead.
_NATURAL_KEY = {"authors": "name_key", "organizations": "name"}
# An author's display spelling is the first one seen, so it depends on import order.
_ORDER_DEPENDENT = {("authors", "name")}


def dump(db: Database) -> dict[str, list[tuple]]:
    """Every row of every data table, sorted, with surrogate ids replaced by natural keys."""
    result = {}
    with db.sessions() as session:
        natural = {
            table: dict(
                session.execute(
                    select(Base.metadata.tables[table].c.id, Base.metadata.tables[table].c[key])
                ).all()
            )
            for table, key in _NATURAL_KEY.items()
        }
        for table in Base.metadata.sorted_tables:
            if table.name in _VOLATILE:
                continue
            columns = [
                c
                for c in table.columns
                if c.name != "id" and (table.name, c.name) not in _ORDER_DEPENDENT
            ]
            rows = []
            for row in session.execute(select(*columns)).all():
                values = []
                for column, value in zip(columns, row, strict=True):
                    (fk,) = column.foreign_keys or {None}
                    if fk is not None and fk.column.table.name in natural:
                        value = natural[fk.column.table.name].get(value)
                    values.append(repr(value))
                rows.append(tuple(values))
            result[table.name] = sorted(rows)
    return result


def count(db: Database, table: str) -> int:
    with db.sessions() as session:
        return session.execute(
            select(func.count()).select_from(Base.metadata.tables[table])
        ).scalar_one()
