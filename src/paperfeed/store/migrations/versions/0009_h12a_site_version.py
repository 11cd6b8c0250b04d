"""the site version: one row raised by every write that shows on public pages (page caches)

Revision ID: 0009_h12a
Revises: 0007_h11
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009_h12a"
down_revision: str | None = "0007_h11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "site_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_version")),
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    op.bulk_insert(table, [{"id": 1, "version": 0, "changed_at": now}])


def downgrade() -> None:
    op.drop_table("site_version")
