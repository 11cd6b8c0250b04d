"""paper embeddings and search-index state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_embeddings",
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("paper_id", sa.String(length=40), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_paper_embeddings_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model", "paper_id", name=op.f("pk_paper_embeddings")),
    )
    with op.batch_alter_table("paper_embeddings", schema=None) as batch_op:
        batch_op.create_index("ix_paper_embeddings_paper_id", ["paper_id"], unique=False)
        batch_op.create_index(
            "ix_paper_embeddings_model_created_at", ["model", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("paper_embeddings", schema=None) as batch_op:
        batch_op.drop_index("ix_paper_embeddings_model_created_at")
        batch_op.drop_index("ix_paper_embeddings_paper_id")
    op.drop_table("paper_embeddings")
