"""The "For you" pages, forms, private feed and JSON API, on real daily lists (2-3 Oct 2025)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import feedparser
from fastapi.testclient import TestClient
from support.accounts import DAY_FILES, csrf_of, log_in, make_user

from paperfeed.community import accounts
from paperfeed.rank import follows, recommend
from paperfeed.store.db import Database

Site = Callable[..., TestClient]
DAY = "2025-10-03"
PAPERS = [entry["paper"] for entry in json.loads(DAY_FILES[1].read_text())]


def _bearer(db: Database, username: str) -> dict[str, str]:
    with db.transaction() as session:
        user = accounts.get_user(session, username)
        secret = accounts.create_token(session, user, "tests").secret
    return {"Authorization": f"Bearer {secret}"}


def _profile(db: Database, username: str) -> recommend.Profile:
    with db.sessions() as session:
        return recommend.load_profile(session, accounts.get_user(session, username).id)


def _card_ids(page: str) -> list[str]:
    return re.findall(r'<h2><a href="/papers/([^"]+)">', page)


def _about(word: str) -> list[str]:
    return [p["id"] for p in PAPERS if word in f"{p['title']} {p['summary']}".lower()]


def test_a_cold_reader_sees_trending_and_is_offered_the_onboarding_page(
    site: Site, site_db: Database
) -> None:
    make_user(site_db, "ann")
    client = site()
    assert client.get("/for-you", follow_redirects=False).status_code == 303  # log in first
    log_in(client, "ann")
    page = client.get(f"/for-you/date/{DAY}")
    assert page.status_code == 200
    assert "Pick a few categories or papers" in page.text
    assert page.text.count("Why: trending") == len(PAPERS)
    start = client.get("/for-you/start")
    assert start.status_code == 200 and "Upvote" in start.text


def test_an_upvote_changes_the_next_page_and_says_why(site: Site, site_db: Database) -> None:
    make_user(site_db, "bea")
    client = site()
    csrf = log_in(client, "bea")
    video = _about("video")
    assert len(video) >= 4
    for paper_id in video[:3]:
        done = client.post(f"/papers/{paper_id}/upvote", data={"csrf_token": csrf, "next": "/"})
        assert done.status_code == 200  # followed the redirect
    page = client.get(f"/for-you/date/{DAY}")
    ids = _card_ids(page.text)
    assert "Pick a few categories" not in page.text
    assert not set(ids) & set(video[:3])
    assert ids[0] in video[3:]  # the remaining video paper comes first
    assert "Why: like «" in page.text
    assert "/for-you/week/2025-W40" in page.text and "/for-you/month/2025-10" in page.text
    assert client.get("/for-you/week/2025-W40").status_code == 200


def test_not_interested_hides_a_card_and_undo_brings_it_back(
    site: Site, site_db: Database
) -> None:
    make_user(site_db, "cem")
    client = site()
    csrf = log_in(client, "cem")
    target = PAPERS[0]["id"]
    page = client.get(f"/for-you/date/{DAY}")
    assert target in _card_ids(page.text) and "Not interested" in page.text
    without_token = client.post(f"/papers/{target}/not-interested", data={"next": "/for-you"})
    assert without_token.status_code == 403
    client.post(
        f"/papers/{target}/not-interested",
        data={"csrf_token": csrf, "next": f"/for-you/date/{DAY}"},
    )
    page = client.get(f"/for-you/date/{DAY}")
    assert target not in _card_ids(page.text)
    feed = client.get(f"/papers/date/{DAY}").text  # the community feed still lists it, undoable
    assert target in _card_ids(feed) and "Undo not interested" in feed
    assert [s.paper_id for s in _profile(site_db, "cem").disliked] == [target]
    client.post(f"/papers/{target}/not-interested", data={"csrf_token": csrf, "next": "/"})
    assert target in _card_ids(client.get(f"/for-you/date/{DAY}").text)
    assert _profile(site_db, "cem").disliked == []


def test_follow_forms_and_the_settings_page_show_and_clear_what_it_knows(
    site: Site, site_db: Database
) -> None:
    make_user(site_db, "dan")
    client = site()
    csrf = log_in(client, "dan")
    author = PAPERS[5]["authors"][0]["name"]
    author_page = client.get(f"/authors/{author}")
    assert f"Follow {author}" in author_page.text
    client.post(
        "/follows",
        data={"csrf_token": csrf, "kind": "author", "label": author, "next": f"/authors/{author}"},
    )
    assert f"Unfollow {author}" in client.get(f"/authors/{author}").text
    client.post("/follows", data={"csrf_token": csrf, "kind": "search", "label": "video"})
    client.post(f"/papers/{PAPERS[1]['id']}/upvote", data={"csrf_token": csrf})
    refused = client.post("/follows", data={"csrf_token": csrf, "kind": "category", "label": "x y"})
    assert "is not an arXiv category" in refused.text
    page = client.get(f"/for-you/date/{DAY}")
    assert f"Why: by an author you follow ({author})" in page.text
    assert "Why: matches your search «video»" in page.text
    settings = client.get("/settings").text
    assert "1 upvote," in settings and "2 follows" in settings and author in settings
    client.post("/settings/recommender/clear", data={"csrf_token": csrf})
    profile = _profile(site_db, "dan")
    assert profile.cold and profile.follows == [] and profile.liked == []
    assert "Pick a few categories" in client.get(f"/for-you/date/{DAY}").text


def test_the_private_feed_opens_by_its_token_and_stops_when_revoked(
    site: Site, site_db: Database
) -> None:
    make_user(site_db, "eve")
    client = site()
    csrf = log_in(client, "eve")
    upvoted = _about("video")[0]
    client.post(f"/papers/{upvoted}/upvote", data={"csrf_token": csrf})
    settings = client.post("/settings/feed-token", data={"csrf_token": csrf}).text
    url = re.search(r"http://testserver(/for-you/feed/pff_[\w-]+\.rss)", settings)
    assert url, settings[-2000:]
    anonymous = site()  # a feed reader: no cookie
    response = anonymous.get(url.group(1))
    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo and parsed.feed.title.endswith("for eve")
    assert len(parsed.entries) == 50  # a page of the last week's papers (two daily lists)...
    assert all(upvoted not in entry.link for entry in parsed.entries)  # ...but the upvoted one
    assert "video" in parsed.entries[0].title.lower() + parsed.entries[0].summary.lower()
    assert anonymous.get(url.group(1).replace("pff_", "pff_x")).status_code == 404
    client.post("/settings/feed-token/revoke", data={"csrf_token": csrf})
    assert anonymous.get(url.group(1)).status_code == 404


def test_the_api_serves_only_your_own_recommendations_and_follows(
    site: Site, site_db: Database
) -> None:
    make_user(site_db, "fay")
    make_user(site_db, "gus")
    fay, gus = _bearer(site_db, "fay"), _bearer(site_db, "gus")
    api = site()
    assert api.get(f"/api/recommendations?date={DAY}").status_code == 401
    cold = api.get(f"/api/recommendations?date={DAY}&limit=5", headers=fay).json()
    assert [item["reason"] for item in cold] == ["trending"] * 5
    assert {"paper", "title", "numComments", "reason", "score"} <= set(cold[0])
    video = _about("video")
    for paper_id in video[:2]:
        assert api.post(f"/api/papers/{paper_id}/upvote", headers=fay).status_code == 200
    made = api.post("/api/follows", headers=gus, json={"kind": "search", "label": "agents"})
    assert made.status_code == 201 and made.json()["label"] == "agents"
    mine = api.get(f"/api/recommendations?from={DAY}&to={DAY}&limit=50", headers=fay).json()
    assert mine[0]["paper"]["id"] in video and mine[0]["reason"].startswith("like «")
    assert not {i["paper"]["id"] for i in mine} & set(video[:2])
    theirs = api.get(f"/api/recommendations?date={DAY}&limit=50", headers=gus).json()
    assert [i["paper"]["id"] for i in theirs] != [i["paper"]["id"] for i in mine]
    # Another reader's follow, feed and profile are out of reach with your token.
    assert api.get("/api/follows", headers=fay).json() == []
    assert api.delete(f"/api/follows/{made.json()['id']}", headers=fay).status_code == 404
    assert [f["label"] for f in api.get("/api/follows", headers=gus).json()] == ["agents"]
    dismissed = api.post(f"/api/papers/{mine[0]['paper']['id']}/not-interested", headers=fay)
    assert dismissed.json() == {"paperId": mine[0]["paper"]["id"], "notInterested": True}
    again = api.get(f"/api/recommendations?date={DAY}&limit=50", headers=fay).json()
    assert mine[0]["paper"]["id"] not in {i["paper"]["id"] for i in again}
    with site_db.sessions() as session:
        assert follows.follows_of(session, accounts.get_user(session, "fay").id) == []
    bad = api.get(f"/api/recommendations?date={DAY}&week=2025-W40", headers=fay)
    assert bad.status_code == 422
    too_long = api.get("/api/recommendations?from=2025-01-01&to=2025-12-31", headers=fay)
    assert too_long.status_code == 422 and "at most" in too_long.json()["error"]


def test_forms_without_csrf_change_nothing(site: Site, site_db: Database) -> None:
    make_user(site_db, "hal")
    client = site()
    log_in(client, "hal")
    assert client.post("/follows", data={"kind": "category", "label": "cs.CL"}).status_code == 403
    assert client.post("/settings/recommender/clear").status_code == 403
    assert client.post("/settings/feed-token").status_code == 403
    assert _profile(site_db, "hal").follows == []
    assert csrf_of(client.get("/for-you/start").text)
