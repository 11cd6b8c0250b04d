"""search-index state

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The search indexes' outbox: papers changed since the indexes last caught up. Papers that
    # exist before this revision need no rows: a missing index is built from the papers table.
    op.create_table(
        "search_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_changes")),
    )


def downgrade() -> None:
    op.drop_table("search_changes")
