"""the reader version: a second site_version row, raised by writes only their owner sees

Revision ID: 0010_h12c
Revises: 0009_h12a
Create Date: 2026-12-04 18:10:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010_h12c"
down_revision: str | None = "0009_h12a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = sa.table(
        "site_version",
        sa.column("id", sa.Integer()),
        sa.column("version", sa.Integer()),
        sa.column("changed_at", sa.DateTime()),
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    op.bulk_insert(table, [{"id": 2, "version": 0, "changed_at": now}])


def downgrade() -> None:
    op.execute("DELETE FROM site_version WHERE id = 2")
