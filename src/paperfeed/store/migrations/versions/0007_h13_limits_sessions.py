"""rate limits, server-side log-in sessions, stored comment HTML, the first-admin claim

Revision ID: 0007_h13
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_h13"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRST_ACCOUNT = "accounts.first"  # community/accounts.py: the row whose insert makes the admin


def upgrade() -> None:
    # One counter table for every rate limit (community/limits.py) replaces the log-in failures.
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limits")),
    )
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.create_index("ix_rate_limits_expires_at", ["expires_at"], unique=False)
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_key_at")
    op.drop_table("login_failures")
    # Log-ins are rows the server can end (logout, a password change), not just signed cookies.
    op.create_table(
        "login_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_login_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_login_sessions")),
    )  # fmt: skip
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_login_sessions_user_id", ["user_id"], unique=False)
        batch_op.create_index("ix_login_sessions_expires_at", ["expires_at"], unique=False)
    # Comments keep their rendered HTML: rendered once here, then when written.
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html", sa.Text(), nullable=False, server_default=""))
    render = _comment_renderer()
    comments = sa.table(
        "comments", sa.column("id", sa.Integer()), sa.column("body", sa.Text()),
        sa.column("html", sa.Text()),
    )  # fmt: skip
    bind = op.get_bind()
    for comment_id, body in bind.execute(sa.select(comments.c.id, comments.c.body)).all():
        bind.execute(
            comments.update().where(comments.c.id == comment_id).values(html=render(body))
        )
    # A site that has accounts has had its first one: no later registration becomes admin.
    checkpoints = sa.table(
        "checkpoints",
        sa.column("key", sa.Text()),
        sa.column("state", sa.JSON()),
        sa.column("updated_at", sa.DateTime()),
    )
    if bind.execute(sa.text("SELECT 1 FROM users LIMIT 1")).first() is not None:
        op.execute(
            checkpoints.insert().values(
                key=FIRST_ACCOUNT, state={"migrated": True}, updated_at=sa.func.current_timestamp()
            )
        )


def _comment_renderer():
    """community/comments.py's renderer as of this revision (a migration imports no feature)."""
    from markdown_it import MarkdownIt

    markdown = MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "typographer": False}
    ).disable(["image", "heading", "lheading", "html_block", "html_inline"])

    def link_open(renderer, tokens, idx, options, env) -> str:
        tokens[idx].attrSet("rel", "nofollow ugc noopener")
        return renderer.renderToken(tokens, idx, options, env)

    markdown.add_render_rule("link_open", link_open)
    return markdown.render


def downgrade() -> None:
    op.drop_table("login_sessions")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("html")
    op.execute(sa.text(f"DELETE FROM checkpoints WHERE key = '{FIRST_ACCOUNT}'"))
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_key_at", ["key", "at"], unique=False)
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_limits_expires_at")
    op.drop_table("rate_limits")
