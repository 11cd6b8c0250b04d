"""Upvotes, comments and submissions through the pages (no JavaScript) and the JSON API."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL
from fastapi.testclient import TestClient
from support.accounts import DAY_FILES, csrf_of, log_in, make_user
from support.arxiv_api_server import ArxivApiServer
from support.files import arxiv_subset

from paperfeed.community import accounts
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

Site = Callable[..., TestClient]
ENTRIES = {e["paper"]["id"]: e for e in json.loads(DAY_FILES[1].read_text())}
PAPER = "2510.02283"
BASE, IMPORTED_COMMENTS = ENTRIES[PAPER]["paper"]["upvotes"], ENTRIES[PAPER]["numComments"]


def _card_votes(page: str, paper_id: str) -> tuple[int, bool]:
    """(count, whether shown as upvoted) of the paper's card or paper-page control."""
    match = re.search(
        rf'class="votes( big)?( on)?"[^>]*action="/papers/{re.escape(paper_id)}/upvote".*?'
        r'<span class="count">(\d+)</span>', page, re.S,
    )  # fmt: skip
    assert match, "no upvote form for the paper"
    return int(match.group(3)), bool(match.group(2))


def _api_entry(client: TestClient, paper_id: str = PAPER) -> dict:
    entries = client.get("/api/daily_papers", params={"date": "2025-10-03"}).json()
    return next(e for e in entries if e["paper"]["id"] == paper_id)


def _bearer(db: Database, username: str) -> dict[str, str]:
    with db.transaction() as session:
        token = accounts.create_token(session, accounts.get_user(session, username))
    return {"Authorization": f"Bearer {token.secret}"}


def test_the_upvote_button_works_without_javascript(site: Site, site_db: Database) -> None:
    make_user(site_db, "ann")
    anonymous, client = site(), site()
    feed = anonymous.get("/papers/date/2025-10-03").text
    assert f'href="/login?next=/papers/date/2025-10-03" title="Log in to upvote ({BASE}' in feed

    log_in(client, "ann")
    feed = client.get("/papers/date/2025-10-03").text
    assert _card_votes(feed, PAPER) == (BASE, False)
    after = client.post(f"/papers/{PAPER}/upvote", data={
        "csrf_token": csrf_of(feed), "next": "/papers/date/2025-10-03",
    })  # fmt: skip
    assert after.url.path == "/papers/date/2025-10-03"
    assert _card_votes(after.text, PAPER) == (BASE + 1, True)
    assert _card_votes(client.get(f"/papers/{PAPER}").text, PAPER) == (BASE + 1, True)
    assert _api_entry(anonymous)["paper"]["upvotes"] == BASE + 1

    again = client.post(f"/papers/{PAPER}/upvote", data={"csrf_token": csrf_of(feed)})
    assert again.url.path == f"/papers/{PAPER}"  # no `next`: the paper page
    assert _card_votes(again.text, PAPER) == (BASE, False)


def test_posting_while_logged_out_leads_to_the_login_page(site: Site) -> None:
    client = site()
    token = csrf_of(client.get("/login").text)
    response = client.post(
        f"/papers/{PAPER}/upvote", data={"csrf_token": token}, follow_redirects=False,
        headers={"Referer": "http://testserver/papers/date/2025-10-03"},
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/papers/date/2025-10-03"


def test_comments_on_the_paper_page_and_their_count(site: Site, site_db: Database) -> None:
    make_user(site_db, "boss", admin=True)
    make_user(site_db, "writer")
    make_user(site_db, "other")
    writer, other, boss, anonymous = site(), site(), site(), site()
    token = log_in(writer, "writer")
    page = writer.post(f"/papers/{PAPER}/comments", data={
        "csrf_token": token, "body": "Great **result**\n<img src=x onerror=alert(1)>",
    })  # fmt: skip
    comment_id = int(re.search(r'id="comment-(\d+)"', page.text).group(1))
    assert page.url.fragment == f"comment-{comment_id}"
    assert "<strong>result</strong>" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert _api_entry(anonymous)["numComments"] == IMPORTED_COMMENTS + 1
    card = anonymous.get("/papers/date/2025-10-03").text
    assert re.search(rf"/papers/{PAPER}\">.*?{IMPORTED_COMMENTS + 1} comments", card, re.S)

    # Someone else guessing the id can neither change nor delete it.
    other_token = log_in(other, "other")
    edit = other.post(f"/comments/{comment_id}/edit", data={"csrf_token": other_token, "body": "x"})
    delete = other.post(f"/comments/{comment_id}/delete", data={"csrf_token": other_token})
    hide = other.post(f"/comments/{comment_id}/hide", data={"csrf_token": other_token})
    assert (edit.status_code, delete.status_code, hide.status_code) == (403, 403, 403)
    assert "You can only edit your own comments." in edit.text
    missing = other.post("/comments/999999/delete", data={"csrf_token": other_token})
    assert missing.status_code == 404
    assert "Great **result**" in _api_comments(anonymous)[0]["body"]

    edited = writer.post(
        f"/comments/{comment_id}/edit", data={"csrf_token": token, "body": "Edited *text*"}
    )
    assert "<em>text</em>" in edited.text and "edited" in edited.text

    boss_token = log_in(boss, "boss")
    hidden = boss.post(f"/comments/{comment_id}/hide", data={"csrf_token": boss_token})
    assert "hidden by an admin" in hidden.text and "Show again" in hidden.text
    assert "Edited" not in anonymous.get(f"/papers/{PAPER}").text
    assert _api_comments(anonymous) == []
    assert _api_entry(anonymous)["numComments"] == IMPORTED_COMMENTS
    boss.post(f"/comments/{comment_id}/hide", data={"csrf_token": boss_token, "hidden": "0"})
    assert [c["body"] for c in _api_comments(anonymous)] == ["Edited *text*"]

    gone = writer.post(f"/comments/{comment_id}/delete", data={"csrf_token": token})
    assert "Your comment is deleted." in gone.text and "No comments yet." in gone.text
    assert _api_entry(anonymous)["numComments"] == IMPORTED_COMMENTS


def _api_comments(client: TestClient, paper_id: str = PAPER) -> list[dict]:
    response = client.get(f"/api/papers/{paper_id}/comments")
    assert response.status_code == 200
    return response.json()


def test_the_api_needs_a_bearer_token_for_every_change(site: Site, site_db: Database) -> None:
    make_user(site_db, "cookie")
    browser = site()
    log_in(browser, "cookie")  # a logged-in browser's cookie does not count under /api
    for client in (site(), browser, site(headers={"Authorization": "Bearer pf_forged"})):
        for method, url, body in (
            ("POST", f"/api/papers/{PAPER}/upvote", None),
            ("DELETE", f"/api/papers/{PAPER}/upvote", None),
            ("POST", f"/api/papers/{PAPER}/comments", {"body": "hi"}),
            ("POST", "/api/papers/submit", {"paper_id": PAPER}),
        ):
            response = client.request(method, url, json=body)
            assert response.status_code == 401, (method, url)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "token" in response.json()["error"]
    assert _api_entry(browser)["paper"]["upvotes"] == BASE


def test_api_upvotes_are_idempotent(site: Site, site_db: Database) -> None:
    make_user(site_db, "dev")
    api = site(headers=_bearer(site_db, "dev"))
    for _ in range(2):
        assert api.post(f"/api/papers/{PAPER}v2/upvote").json() == {
            "paperId": PAPER, "upvoted": True, "upvotes": BASE + 1,
        }  # fmt: skip
    for _ in range(2):
        assert api.delete(f"/api/papers/{PAPER}/upvote").json()["upvotes"] == BASE
    unknown = api.post("/api/papers/2510.99999/upvote")
    assert unknown.status_code == 404 and unknown.json() == {"error": "paper 2510.99999 not found"}


def test_api_comments(site: Site, site_db: Database) -> None:
    make_user(site_db, "eve")
    api = site(headers=_bearer(site_db, "eve"))
    created = api.post(f"/api/papers/{PAPER}/comments", json={"body": "<b>hi</b> & `code`"})
    assert created.status_code == 201
    comment = created.json()
    assert comment["author"] == "eve" and comment["paperId"] == PAPER
    assert comment["html"] == "<p>&lt;b&gt;hi&lt;/b&gt; &amp; <code>code</code></p>\n"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", comment["createdAt"])
    assert _api_comments(site()) == [comment]
    assert _api_entry(site())["numComments"] == IMPORTED_COMMENTS + 1
    assert api.post(f"/api/papers/{PAPER}/comments", json={"body": ""}).status_code == 422
    assert api.post(f"/api/papers/{PAPER}/comments", json={"body": "   "}).json() == {
        "error": "The comment is empty."
    }
    assert api.get("/api/papers/2510.99999/comments").status_code == 404


@pytest.fixture
def fresh_records(tmp_path: Path) -> list[dict]:
    """Real snapshot records served as if submitted to arXiv yesterday and a month ago."""
    records = arxiv_subset(ARXIV_JSONL, tmp_path / "subset.jsonl.gz", 3)
    now = datetime.now(UTC)
    ages = [timedelta(days=1), timedelta(days=2), timedelta(days=30)]
    return [r | {"published": now - age} for r, age in zip(records, ages, strict=True)]


@pytest.fixture
def submit_site(site_db: Database, fresh_records, tmp_path: Path) -> Iterator[Site]:
    """Clients of a site whose arXiv API is a loopback server, with a cap of 4 a day."""
    with ArxivApiServer(fresh_records) as server:
        settings = Settings(
            database_url=site_db.url, home=tmp_path / "home", arxiv_api_url=server.url,
            submit_daily_cap=4,
        )  # fmt: skip
        app = create_app(settings, site_db)
        with TestClient(app) as first:
            clients = [first]

            def client(**kwargs) -> TestClient:
                if kwargs or len(clients) > 1:
                    clients.append(TestClient(app, **kwargs))
                return clients[-1]

            yield client


def test_api_submit_features_the_paper_and_explains_refusals(
    submit_site: Site, site_db: Database, fresh_records: list[dict]
) -> None:
    make_user(site_db, "scout")
    api = submit_site(headers=_bearer(site_db, "scout"))
    fresh, second, old = (r["id"] for r in fresh_records)

    created = api.post("/api/papers/submit", json={"paper_id": f"https://arxiv.org/abs/{fresh}"})
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["paper"]["id"] == fresh and entry["title"] == fresh_records[0]["title"]
    assert entry["submittedBy"]["name"] == "scout"
    assert entry["paper"]["submittedOnDailyBy"]["user"] == "scout"
    today = datetime.now(UTC).date().isoformat()
    listed = api.get("/api/daily_papers", params={"date": today}).json()
    assert [e["paper"]["id"] for e in listed] == [fresh]

    refusals = [
        ({"paper_id": fresh}, 409, f"{fresh} is already on the daily list of {today}."),
        ({"paper_id": "no such thing"}, 422, "is not an arXiv id or arXiv URL"),
        ({"paper_id": old}, 422, "more than 7 days ago"),
        ({"paper_id": "2611.99999"}, 404, "arXiv has no paper 2611.99999."),
        ({}, 422, "paper_id"),
    ]
    for body, status, message in refusals:
        response = api.post("/api/papers/submit", json=body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"]
    # The old paper and the unknown one asked arXiv, so they counted: this is the 4th.
    assert api.post("/api/papers/submit", json={"paper_id": second}).status_code == 201
    capped = api.post("/api/papers/submit", json={"paper_id": "2611.99998"})
    assert capped.status_code == 429 and 0 < int(capped.headers["Retry-After"]) <= 86400
    assert capped.json() == {
        "error": "You have made 4 submissions today, the most one may (one arXiv was asked "
        "about counts, found or not); try again tomorrow (UTC)."
    }


def test_the_submit_page(submit_site: Site, site_db: Database, fresh_records: list[dict]) -> None:
    make_user(site_db, "paige")
    browser = submit_site()
    assert browser.get("/submit", follow_redirects=False).headers["location"] == (
        "/login?next=/submit"
    )
    token = log_in(browser, "paige")
    form = browser.get("/submit").text
    assert "You may submit 4 papers a day (UTC); you have submitted 0 today." in form

    old = fresh_records[2]["id"]
    refused = browser.post("/submit", data={"csrf_token": token, "paper_id": old})
    assert refused.status_code == 422
    assert "more than 7 days ago" in refused.text
    assert f'value="{old}"' in refused.text  # what was typed stays

    done = browser.post("/submit", data={"csrf_token": token, "paper_id": fresh_records[0]["id"]})
    assert done.url.path == f"/papers/{fresh_records[0]['id']}"
    assert "is on today&#39;s list, submitted by you." in done.text
    assert "submitted by paige" in done.text


def test_community_pages_and_api_on_both_databases(data_db: Database, tmp_path: Path) -> None:
    settings = Settings(database_url=data_db.url, home=tmp_path / "home")
    with TestClient(create_app(settings, data_db)) as browser:
        token = csrf_of(browser.get("/register").text)
        browser.post("/register", data={
            "csrf_token": token, "username": "both", "email": "both@example.org",
            "password": "a fine password", "password_again": "a fine password",
        })  # fmt: skip
        pages = ["/settings", "/submit", "/trending", f"/papers/{PAPER}", "/logout"]
        for route in [*pages, "/papers/date/2025-10-03?sort=trending", "/papers/month/2025-10"]:
            assert browser.get(route).status_code == 200, route
        token = csrf_of(browser.get("/settings").text)
        voted = browser.post(f"/papers/{PAPER}/upvote", data={"csrf_token": token})
        assert _card_votes(voted.text, PAPER) == (BASE + 1, True)
        page = browser.post(f"/papers/{PAPER}/comments", data={"csrf_token": token, "body": "ok"})
        assert page.status_code == 200 and "No comments yet." not in page.text
        secret = re.search(
            r'id="new-token">([^<]+)<',
            browser.post("/settings/tokens", data={"csrf_token": token}).text,
        ).group(1)
    with TestClient(
        create_app(settings, data_db), headers={"Authorization": f"Bearer {secret}"}
    ) as api:
        assert api.delete(f"/api/papers/{PAPER}/upvote").json()["upvotes"] == BASE
        assert [c["body"] for c in api.get(f"/api/papers/{PAPER}/comments").json()] == ["ok"]
        assert _api_entry(api)["numComments"] == IMPORTED_COMMENTS + 1


def test_comments_and_votes_are_rate_limited_per_account(site_db: Database, tmp_path) -> None:
    """Audit finding: no rate limit on comments or votes."""
    settings = Settings(
        database_url=site_db.url, home=tmp_path / "home",
        rate_limits={"comment.user": "3/1h", "vote.user": "4/1m"},
    )  # fmt: skip
    make_user(site_db, "chatty")
    with TestClient(create_app(settings, site_db)) as client:
        token = log_in(client, "chatty")
        statuses = [
            client.post(f"/papers/{PAPER}/comments", follow_redirects=False,
                        data={"csrf_token": token, "body": f"comment {n}"}).status_code
            for n in range(4)
        ]  # fmt: skip
        assert statuses == [303, 303, 303, 429]
        api = TestClient(client.app, headers=_bearer(site_db, "chatty"))
        votes = [api.post(f"/api/papers/{PAPER}/upvote") for _ in range(5)]
        assert [v.status_code for v in votes] == [200] * 4 + [429]
        assert int(votes[-1].headers["Retry-After"]) <= 60
        assert "try again in" in votes[-1].json()["error"]
