"""Comments: your own to edit and delete, admins hide, counts follow, text is rendered escaped."""

from __future__ import annotations

import json

import pytest
from support.accounts import DAY_FILES, make_user

from paperfeed.community import comments
from paperfeed.community.comments import CommentError
from paperfeed.domain import PaperNotFound
from paperfeed.feed import feed_page, parse_period
from paperfeed.store.db import Database

# A paper of 3 October 2025 that Hugging Face users had already commented on.
_ENTRIES = json.loads(DAY_FILES[1].read_text())
COMMENTED = max(_ENTRIES, key=lambda e: e["numComments"])
PAPER_ID, IMPORTED = COMMENTED["paper"]["id"], COMMENTED["numComments"]


def _count_on_card(db: Database) -> int:
    with db.sessions() as session:
        page = feed_page(session, parse_period("day", "2025-10-03"), page_size=100)
    return next(e.num_comments for e in page.entries if e.paper.arxiv_id == PAPER_ID)


def test_counts_are_imported_plus_visible_local_comments(data_db: Database) -> None:
    author, admin = make_user(data_db, "writer"), make_user(data_db, "boss", admin=True)
    assert IMPORTED > 0 and _count_on_card(data_db) == IMPORTED
    with data_db.transaction() as session:
        first = comments.add_comment(session, author, PAPER_ID, "First!")
        second = comments.add_comment(session, author, PAPER_ID, "Second thought")
    assert _count_on_card(data_db) == IMPORTED + 2

    with data_db.transaction() as session:
        comments.set_hidden(session, admin, first.id, True)
        comments.set_hidden(session, admin, first.id, True)  # hiding twice changes nothing
    assert _count_on_card(data_db) == IMPORTED + 1
    with data_db.sessions() as session:
        assert [c.body for c in comments.comments_of(session, PAPER_ID)] == ["Second thought"]
        everything = comments.comments_of(session, PAPER_ID, include_hidden=True)
        assert [(c.body, c.hidden) for c in everything] == [
            ("First!", True),
            ("Second thought", False),
        ]

    with data_db.transaction() as session:
        comments.delete_comment(session, author, first.id)  # a hidden one: count unchanged
        edited = comments.edit_comment(session, author, second.id, "  Second, edited  ")
    assert edited.body == "Second, edited" and edited.edited_at is not None
    assert _count_on_card(data_db) == IMPORTED + 1
    with data_db.transaction() as session:
        comments.set_hidden(session, admin, second.id, True)
        comments.set_hidden(session, admin, second.id, False)
        comments.delete_comment(session, author, second.id)
    assert _count_on_card(data_db) == IMPORTED


def test_only_the_author_edits_or_deletes_and_only_admins_hide(data_db: Database) -> None:
    author, other = make_user(data_db, "owner"), make_user(data_db, "intruder")
    with data_db.transaction() as session:
        comment = comments.add_comment(session, author, PAPER_ID, "mine")
    for attempt in (
        lambda s: comments.edit_comment(s, other, comment.id, "defaced"),
        lambda s: comments.delete_comment(s, other, comment.id),
    ):
        with pytest.raises(CommentError, match="your own") as refused, data_db.transaction() as s:
            attempt(s)
        assert refused.value.status == 403
    with pytest.raises(CommentError, match="admin") as refused, data_db.transaction() as s:
        comments.set_hidden(s, other, comment.id, True)
    assert refused.value.status == 403
    with pytest.raises(CommentError, match="No such") as refused, data_db.transaction() as s:
        comments.edit_comment(s, author, comment.id + 1000, "x")
    assert refused.value.status == 404
    with data_db.sessions() as session:
        assert [c.body for c in comments.comments_of(session, PAPER_ID)] == ["mine"]


@pytest.mark.parametrize(("body", "problem"), [("   \n ", "empty"), ("x" * 5001, "at most")])
def test_empty_and_overlong_comments_are_refused(
    site_db: Database, body: str, problem: str
) -> None:
    user = make_user(site_db, "terse")
    with pytest.raises(CommentError, match=problem), site_db.transaction() as session:
        comments.add_comment(session, user, PAPER_ID, body)


def test_commenting_on_an_unknown_paper_is_refused(site_db: Database) -> None:
    user = make_user(site_db, "lost")
    with pytest.raises(PaperNotFound), site_db.transaction() as session:
        comments.add_comment(session, user, "2510.99999", "hello?")


def test_markdown_subset_is_rendered_and_html_is_escaped() -> None:
    html = comments.render(
        "<script>window.__pwned=1</script> **bold** `x<y` [ok](https://example.org) "
        "[bad](javascript:alert(1)) ![img](https://example.org/i.png)\n\n# not a heading\n\n- item"
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html and "<code>x&lt;y</code>" in html
    assert '<a href="https://example.org" rel="nofollow ugc noopener">ok</a>' in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")
    assert "<img" not in html and "<h1>" not in html and "<li>item</li>" in html


def test_nul_and_control_characters_are_dropped_before_storing(data_db: Database) -> None:
    """Audit finding: comment bodies kept NUL bytes (PostgreSQL refuses them: a 500)."""
    author = make_user(data_db, "nully")
    with data_db.transaction() as session:
        comment = comments.add_comment(session, author, PAPER_ID, "a\x00b\x07c\r\nd \ud800")
    assert comment.body == "ab" + "c\nd \ufffd"
    with data_db.sessions() as session:
        assert [c.body for c in comments.comments_of(session, PAPER_ID)] == [comment.body]
    with pytest.raises(CommentError, match="empty"), data_db.transaction() as session:
        comments.add_comment(session, author, PAPER_ID, "\x00\x00")


def test_the_html_is_rendered_once_when_written_never_when_read(
    data_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit finding: every page view rendered every comment (20 of 5,000 '[' took 2 s)."""
    author = make_user(data_db, "marky")
    with data_db.transaction() as session:
        comments.add_comment(session, author, PAPER_ID, "**bold** <i>")
    monkeypatch.setattr(comments, "render", lambda body: pytest.fail("rendered on read"))
    with data_db.sessions() as session:
        shown = comments.comments_of(session, PAPER_ID)
    assert shown[0].html == "<p><strong>bold</strong> &lt;i&gt;</p>\n"
