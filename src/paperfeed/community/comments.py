"""Comments on papers: write, edit and delete your own, admins hide; counts kept with the paper.

Bodies are plain text with a small Markdown subset (emphasis, code, links, lists, quotes),
rendered by markdown-it-py with raw HTML disabled, so any `<` a user types comes out escaped.
papers.comments_local counts the visible comments and changes in the same transaction as the
comment, only when a row really changed state. The HTML is rendered once, when the comment is
written, and stored beside the body: a page view never runs the Markdown parser (20 comments of
5,000 `[` took 2 s a view when it did).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markdown_it import MarkdownIt
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.core.errors import Refused
from paperfeed.core.text import storable
from paperfeed.domain import PaperNotFound
from paperfeed.store.dialect import rowcount
from paperfeed.store.models import CommentRow, PaperRow, UserRow

BODY_MAX = 5000
_markdown = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "typographer": False}
).disable(["image", "heading", "lheading", "html_block", "html_inline"])


def _link_open(renderer, tokens, idx, options, env) -> str:
    # Links in user text get no referrer weight and no access to this page.
    tokens[idx].attrSet("rel", "nofollow ugc noopener")
    return renderer.renderToken(tokens, idx, options, env)


_markdown.add_render_rule("link_open", _link_open)


class CommentError(Refused, ValueError):
    """A comment request that cannot be granted; `status` is the HTTP status that fits."""


@dataclass(frozen=True)
class Comment:
    """A comment as pages and the API show it."""

    id: int
    paper_id: str
    author: str
    author_id: int
    body: str
    html: str  # the body rendered: the Markdown subset, everything else escaped
    created_at: datetime
    edited_at: datetime | None
    hidden: bool


def render(body: str) -> str:
    """HTML for a comment body (raw HTML in it is escaped, never passed through)."""
    return _markdown.render(body)


def add_comment(session: Session, user: UserRow, paper_id: str, body: str) -> Comment:
    """Post a comment on a stored paper. The caller commits."""
    body = _clean(body)
    if session.scalar(select(PaperRow.id).where(PaperRow.id == paper_id)) is None:
        raise PaperNotFound(paper_id)
    row = CommentRow(
        paper_id=paper_id, user_id=user.id, body=body, html=render(body), created_at=utcnow(),
        hidden=False,
    )  # fmt: skip
    session.add(row)
    session.flush()
    _count(session, paper_id, 1)
    return _comment(row, user.username)


def edit_comment(session: Session, user: UserRow, comment_id: int, body: str) -> Comment:
    """Replace the text of one of the user's own comments. The caller commits."""
    body = _clean(body)
    row = _own(session, user, comment_id, "edit")
    row.body = body
    row.html = render(body)
    row.edited_at = utcnow()
    session.flush()
    return _comment(row, user.username)


def delete_comment(session: Session, user: UserRow, comment_id: int) -> str:
    """Delete one of the user's own comments; returns its paper id. The caller commits."""
    row = _own(session, user, comment_id, "delete")
    paper_id, was_hidden = row.paper_id, row.hidden
    deleted = rowcount(session.execute(
        delete(CommentRow).where(
            CommentRow.id == comment_id,
            CommentRow.user_id == user.id,
            CommentRow.hidden == was_hidden,
        )
    ))
    if deleted != 1:  # hidden or shown by an admin in between: the count would be wrong
        raise CommentError("The comment changed meanwhile; try again.", 409)
    if not was_hidden:
        _count(session, paper_id, -1)
    return paper_id


def set_hidden(session: Session, admin: UserRow, comment_id: int, hidden: bool) -> str:
    """Hide a comment from everyone but admins, or show it again; returns its paper id."""
    if not admin.is_admin:
        raise CommentError("Only an admin may hide comments.", 403)
    row = session.get(CommentRow, comment_id)
    if row is None:
        raise CommentError("No such comment.", 404)
    changed = rowcount(session.execute(
        update(CommentRow)
        .where(CommentRow.id == comment_id, CommentRow.hidden == (not hidden))
        .values(hidden=hidden)
    ))
    if changed == 1:
        _count(session, row.paper_id, -1 if hidden else 1)
    return row.paper_id


def comments_of(session: Session, paper_id: str, *, include_hidden: bool = False) -> list[Comment]:
    """A paper's comments, oldest first; hidden ones only when asked (for admins)."""
    query = _ALL_COMMENTS if include_hidden else _SHOWN_COMMENTS
    rows = session.execute(query, {"paper": paper_id})
    return [_comment(row, username) for row, username in rows]


# Built once: every paper page asks, and a statement built per call is walked again to find
# its compiled form.
_ALL_COMMENTS = (
    select(CommentRow, UserRow.username)
    .join(UserRow, UserRow.id == CommentRow.user_id)
    .where(CommentRow.paper_id == bindparam("paper"))
    .order_by(CommentRow.id)
)
_SHOWN_COMMENTS = _ALL_COMMENTS.where(CommentRow.hidden.is_(False))


def _own(session: Session, user: UserRow, comment_id: int, verb: str) -> CommentRow:
    row = session.get(CommentRow, comment_id)
    if row is None:
        raise CommentError("No such comment.", 404)
    if row.user_id != user.id:
        raise CommentError(f"You can only {verb} your own comments.", 403)
    return row


def _clean(body: str) -> str:
    body = storable(body).strip()
    if not body:
        raise CommentError("The comment is empty.")
    if len(body) > BODY_MAX:
        raise CommentError(f"A comment may have at most {BODY_MAX} characters.")
    return body


def _count(session: Session, paper_id: str, amount: int) -> None:
    session.execute(
        update(PaperRow)
        .where(PaperRow.id == paper_id)
        .values(comments_local=PaperRow.comments_local + amount)
    )


def _comment(row: CommentRow, username: str) -> Comment:
    return Comment(
        id=row.id,
        paper_id=row.paper_id,
        author=username,
        author_id=row.user_id,
        body=row.body,
        html=row.html,
        created_at=row.created_at,
        edited_at=row.edited_at,
        hidden=row.hidden,
    )
