"""The page cache: conditional GETs answered 304, writes on one node seen by the others at once,
logged-in readers served fresh pages, and a day page's SQL not growing with its papers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from support.accounts import DAYS, csrf_of, import_days, log_in, make_user

from paperfeed.community.limits import BatchedLimits, Limits, Rate
from paperfeed.core.errors import RateLimited
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

DAY_PAGE = f"/papers/date/{DAYS[0]}"
DAY_API = f"/api/daily_papers?date={DAYS[0]}"


def _settings(url: str, **extra: object) -> Settings:
    # Each node rereads the site version on every request here (default: once a second).
    return Settings(database_url=url, site_version_check_s=0, embed_in_background=False, **extra)


@pytest.fixture
def nodes(database_url: str) -> Iterator[tuple[TestClient, TestClient, Database]]:
    """Two sites ("nodes") on one database, each with its own engine, connections and cache."""
    db_a, db_b = Database(database_url), Database(database_url)
    import_days(db_a)
    make_user(db_a, "ada")
    with (
        TestClient(create_app(_settings(database_url), db_a)) as node_a,
        TestClient(create_app(_settings(database_url), db_b)) as node_b,
    ):
        yield node_a, node_b, db_a
    db_a.close()
    db_b.close()


def _upvotes(client: TestClient, paper_id: str) -> int:
    answer = client.get(DAY_API)
    assert answer.status_code == 200
    return next(e["paper"]["upvotes"] for e in answer.json() if e["paper"]["id"] == paper_id)


def _first_paper(client: TestClient) -> str:
    return str(client.get(DAY_API).json()[0]["paper"]["id"])


def test_a_conditional_get_of_an_unchanged_page_is_answered_304(nodes) -> None:
    node_a, _node_b, _db = nodes
    for path in (DAY_PAGE, DAY_API, "/papers/feed.rss"):
        first = node_a.get(path)
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert first.headers["cache-control"] == "public, no-cache"
        again = node_a.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        since = node_a.get(path, headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        stale = node_a.get(path, headers={"If-None-Match": '"something-else"'})
        assert stale.status_code == 200 and stale.content == first.content


def test_a_vote_through_one_node_shows_on_the_other_at_once(nodes) -> None:
    node_a, node_b, _db = nodes
    paper = _first_paper(node_b)
    before_b, before_a = _upvotes(node_b, paper), _upvotes(node_a, paper)  # both cached now
    page_etag = node_b.get(DAY_PAGE).headers["etag"]
    token = log_in(node_a, "ada")
    voted = node_a.post(f"/papers/{paper}/upvote", data={"csrf_token": token, "next": "/"})
    assert voted.status_code in (200, 303)
    node_a.cookies.clear()  # anonymous again
    assert _upvotes(node_b, paper) == before_b + 1
    assert _upvotes(node_a, paper) == before_a + 1
    changed = node_b.get(DAY_PAGE, headers={"If-None-Match": page_etag})
    assert changed.status_code == 200 and changed.headers["etag"] != page_etag


def test_a_vote_through_one_node_shows_on_the_other_with_no_page_cache(database_url) -> None:
    """Without the page cache, pages still show no paper kept from before the vote (the
    process's cache of stored papers is emptied by the new site version too)."""
    db_a, db_b = Database(database_url), Database(database_url)
    import_days(db_a)
    make_user(db_a, "ada")
    settings = _settings(database_url, page_cache_mb=0)
    try:
        with (
            TestClient(create_app(settings, db_a)) as node_a,
            TestClient(create_app(settings, db_b)) as node_b,
        ):
            paper = _first_paper(node_b)
            before = _upvotes(node_b, paper)  # its papers kept by node B now
            assert _upvotes(node_b, paper) == before
            token = log_in(node_a, "ada")
            voted = node_a.post(f"/papers/{paper}/upvote", data={"csrf_token": token, "next": "/"})
            assert voted.status_code in (200, 303)
            assert _upvotes(node_b, paper) == before + 1
            page = node_b.get(DAY_PAGE).text
            assert f"({before + 1} upvotes)" in page
    finally:
        db_a.close()
        db_b.close()


def test_a_comment_changes_the_anonymous_paper_page_on_the_other_node(nodes) -> None:
    node_a, node_b, _db = nodes
    paper = _first_paper(node_b)
    assert "A remark from node A" not in node_b.get(f"/papers/{paper}").text
    token = log_in(node_a, "ada")
    posted = node_a.post(
        f"/papers/{paper}/comments", data={"csrf_token": token, "body": "A remark from node A"}
    )
    assert posted.status_code in (200, 303)
    assert "A remark from node A" in node_b.get(f"/papers/{paper}").text


def test_a_logged_in_reader_sees_their_own_vote_at_once_and_no_shared_page(nodes) -> None:
    node_a, _node_b, _db = nodes
    paper = _first_paper(node_a)
    anonymous = node_a.get(DAY_PAGE)  # the anonymous page is cached
    token = log_in(node_a, "ada")
    page = node_a.get(DAY_PAGE)
    assert page.headers["cache-control"] == "private, no-cache"
    assert page.headers["etag"] != anonymous.headers["etag"] and "Log out" in page.text
    count = _count_on(page.text, paper)
    node_a.post(f"/papers/{paper}/upvote", data={"csrf_token": token, "next": DAY_PAGE})
    mine = node_a.get(DAY_PAGE).text
    assert _count_on(mine, paper) == count + 1
    pressed = rf'class="votes on" method="post" action="/papers/{re.escape(paper)}/upvote"'
    assert re.search(pressed, mine)


def test_a_reader_s_page_is_kept_for_that_log_in_alone(nodes) -> None:
    node_a, _node_b, db = nodes
    make_user(db, "bob")
    paper = _first_paper(node_a)
    token = log_in(node_a, "ada")
    node_a.post(f"/papers/{paper}/upvote", data={"csrf_token": token, "next": DAY_PAGE})
    first = node_a.get(DAY_PAGE)
    statements: list[str] = []
    listener = statements_into(statements)
    event.listen(db.engine, "before_cursor_execute", listener)
    again = node_a.get(DAY_PAGE)
    event.remove(db.engine, "before_cursor_execute", listener)
    assert again.text == first.text
    assert len(statements) <= 1, statements  # the version read, nothing rendered
    # Bob, on the same node, gets his own page: his name, his token, ada's vote not pressed.
    pressed = rf'class="votes on" method="post" action="/papers/{re.escape(paper)}/upvote"'
    node_a.cookies.clear()
    bob_token = log_in(node_a, "bob")
    bob = node_a.get(DAY_PAGE)
    assert "bob" in bob.text and not re.search(pressed, bob.text)
    assert csrf_of(bob.text) == bob_token != token


def test_not_interested_shows_on_the_reader_s_next_page_on_every_node(nodes) -> None:
    node_a, node_b, _db = nodes
    paper = _first_paper(node_a)
    token = log_in(node_a, "ada")
    node_b.cookies.update(node_a.cookies)  # the same browser, answered by the other node
    undo = f'action="/papers/{paper}/not-interested">'
    before = node_b.get(DAY_PAGE).text  # kept by node B for this log-in
    assert undo in before and "Undo not interested" not in before.split(undo)[1][:400]
    marked = node_a.post(
        f"/papers/{paper}/not-interested", data={"csrf_token": token, "next": DAY_PAGE}
    )
    assert marked.status_code in (200, 303)
    after = node_b.get(DAY_PAGE).text
    assert "Undo not interested" in after.split(undo)[1][:400]


def test_after_log_out_a_copied_cookie_gets_no_kept_reader_page(nodes) -> None:
    node_a, node_b, _db = nodes
    log_in(node_a, "ada")
    node_b.cookies.update(node_a.cookies)  # a copy of the cookie, used on the other node
    assert "Log out" in node_b.get(DAY_PAGE).text  # kept by node B
    logout_token = csrf_of(node_a.get("/settings").text)
    node_a.post("/logout", data={"csrf_token": logout_token})
    stale = node_b.get(DAY_PAGE)
    assert stale.status_code == 200 and "Log out" not in stale.text


def test_each_visitor_gets_their_own_csrf_token_in_a_shared_page(nodes) -> None:
    node_a, _node_b, _db = nodes
    first = node_a.get(DAY_PAGE)
    node_a.cookies.clear()
    second = node_a.get(DAY_PAGE)  # from the cache
    assert csrf_of(first.text) != csrf_of(second.text)
    assert first.headers["etag"] != second.headers["etag"]
    subscribed = node_a.post(
        "/digest/subscribe", data={"csrf_token": csrf_of(second.text), "email": "x@example.org"}
    )
    assert subscribed.status_code != 403  # the cached page's token is this visitor's


@pytest.fixture
def workers(sqlite_url: str) -> Iterator[tuple[TestClient, TestClient, Database]]:
    """Two workers of one node: one data folder, each with its own engine and memory cache."""
    db_a, db_b = Database(sqlite_url), Database(sqlite_url)
    import_days(db_a)
    make_user(db_a, "ada")
    settings = _settings(sqlite_url)
    settings.ensure_home()
    with (
        TestClient(create_app(settings, db_a)) as worker_a,
        TestClient(create_app(settings, db_b)) as worker_b,
    ):
        yield worker_a, worker_b, db_b
    db_a.close()
    db_b.close()


def test_a_page_one_worker_rendered_is_answered_by_the_other_without_rendering(workers) -> None:
    worker_a, worker_b, db_b = workers
    for path in (DAY_PAGE, DAY_API):
        first = worker_a.get(path)
        statements: list[str] = []
        listener = statements_into(statements)
        event.listen(db_b.engine, "before_cursor_execute", listener)
        again = worker_b.get(path)
        event.remove(db_b.engine, "before_cursor_execute", listener)
        assert again.status_code == 200
        # The same page, but for the visitor's own CSRF token in a form.
        assert _without_tokens(again.text) == _without_tokens(first.text)
        assert len(statements) <= 1, statements  # the version read, nothing rendered


def _without_tokens(page: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def test_a_shared_page_is_not_used_after_a_write_or_by_a_reader(workers) -> None:
    worker_a, worker_b, _db = workers
    paper = _first_paper(worker_a)
    before = _upvotes(worker_a, paper)
    token = log_in(worker_a, "ada")
    worker_a.post(f"/papers/{paper}/upvote", data={"csrf_token": token, "next": "/"})
    assert _upvotes(worker_b, paper) == before + 1  # not the page kept before the vote
    mine = worker_a.get(DAY_PAGE)  # ada's page, kept for her alone
    other = worker_b.get(DAY_PAGE)
    assert "Log out" in mine.text and "Log out" not in other.text
    # A page with a form: each visitor gets their own token in the shared page.
    worker_a.cookies.clear()
    form_a, form_b = worker_a.get(DAY_PAGE), worker_b.get(DAY_PAGE)
    if "csrf_token" in form_a.text:
        assert csrf_of(form_a.text) != csrf_of(form_b.text)


def statements_into(statements: list[str]):
    def listener(_conn, _cursor, statement, *_rest) -> None:
        statements.append(statement)

    return listener


def _count_on(page: str, paper: str) -> int:
    match = re.search(
        rf'action="/papers/{re.escape(paper)}/upvote".*?<span class="count">(\d+)</span>',
        page,
        re.S,
    )
    assert match, "no upvote button for the paper"
    return int(match.group(1))


@pytest.mark.parametrize("path", [DAY_PAGE, DAY_API + "&limit={n}", "/papers/week/2025-W40"])
def test_a_day_page_runs_as_many_statements_for_5_papers_as_for_50(sqlite_url, path) -> None:
    db = Database(sqlite_url)
    import_days(db)
    counts = []
    for page_size in (5, 50):
        settings = _settings(sqlite_url, page_size=page_size, page_cache_mb=0)
        with TestClient(create_app(settings, db)) as client:
            address = path.format(n=page_size)
            client.get(address)  # indexes and templates opened
            statements: list[str] = []
            listener = statements_into(statements)
            event.listen(db.engine, "before_cursor_execute", listener)
            answer = client.get(address)
            event.remove(db.engine, "before_cursor_execute", listener)
            assert answer.status_code == 200
            shown = answer.text.count('class="votes') or len(answer.json())
            counts.append((len(statements), shown))
    db.close()
    (few, shown_few), (many, shown_many) = counts
    assert shown_many > shown_few  # the bigger page does show more papers
    assert many == few, f"{few} statements for {shown_few} papers, {many} for {shown_many}"


def test_batched_search_limits_hold_across_two_nodes(database_url: str) -> None:
    db_a, db_b = Database(database_url), Database(database_url)
    rates = {"search.addr": Rate(100, 3600)}
    nodes = [BatchedLimits(Limits(db.sessions, rates)) for db in (db_a, db_b)]
    admitted = 0
    for turn in range(300):
        try:
            nodes[turn % 2].hit([("search.addr", "203.0.113.7")])
            admitted += 1
        except RateLimited:
            pass
    db_a.close()
    db_b.close()
    batch = 100 // 20
    assert 100 <= admitted <= 100 + batch  # at most one unwritten batch of the other node
