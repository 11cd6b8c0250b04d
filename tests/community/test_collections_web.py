"""Collections through the site and the API: forms with CSRF, exports, and every refusal."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import bibtexparser
import feedparser
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from support.accounts import DAY_FILES, log_in, make_user

from paperfeed.community import accounts
from paperfeed.community import collections as service
from paperfeed.store.db import Database
from paperfeed.store.models import CollectionPaperRow, CollectionRow

Site = Callable[..., TestClient]
DAY = "2025-10-03"
PAPERS = [entry["paper"] for entry in json.loads(DAY_FILES[1].read_text())]
HOSTILE = '<script>alert("c")</script> & <b>bold</b>'


def _token(db: Database, username: str) -> str:
    with db.transaction() as session:
        user = accounts.get_user(session, username)
        return accounts.create_token(session, user, "tests").secret


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _collection_ids(db: Database, username: str) -> dict[str, int]:
    with db.sessions() as session:
        user = accounts.get_user(session, username)
        return {c.name: c.id for c in service.collections_of(session, user, user)}


def _saved_ids(db: Database, collection_id: int) -> list[str]:
    """The papers stored in a collection, most recently saved first, read from the tables."""
    with db.sessions() as session:
        query = (
            select(CollectionPaperRow.paper_id)
            .where(CollectionPaperRow.collection_id == collection_id)
            .order_by(CollectionPaperRow.added_at.desc(), CollectionPaperRow.paper_id)
        )
        return list(session.scalars(query))


def _is_public(db: Database, collection_id: int) -> bool:
    with db.sessions() as session:
        return session.get(CollectionRow, collection_id).is_public


@pytest.fixture
def alice(site: Site, site_db: Database) -> tuple[TestClient, str]:
    """A client logged in as alice, and its CSRF token; bob exists too."""
    make_user(site_db, "alice")
    make_user(site_db, "bob")
    client = site()
    return client, log_in(client, "alice")


def test_a_paper_page_makes_a_collection_and_saves_the_paper(
    alice: tuple[TestClient, str], site_db: Database
) -> None:
    client, csrf = alice
    paper = PAPERS[0]["id"]
    panel = client.get(f"/papers/{paper}").text.split('id="collections"')[1]
    assert 'action="/collections"' in panel and "Make it and save this paper" in panel

    made = client.post(
        "/collections",
        data={"csrf_token": csrf, "name": "Reading list", "paper_id": paper,
              "next": f"/papers/{paper}#collections"},
        follow_redirects=False,
    )  # fmt: skip

    assert made.status_code == 303 and made.headers["location"] == f"/papers/{paper}#collections"
    collection_id = _collection_ids(site_db, "alice")["Reading list"]
    assert _saved_ids(site_db, collection_id) == [paper]
    page = client.get(f"/papers/{paper}").text
    assert "Made the collection &#39;Reading list&#39; and saved the paper in it." in page
    panel = page.split('id="collections"')[1]
    assert f'action="/collections/{collection_id}/papers/remove"' in panel
    listing = client.get(f"/collections/{collection_id}").text
    assert f'href="/papers/{paper}"' in listing and "1 paper</span>" in listing
    assert (
        f'href="/collections/{collection_id}">Reading list</a>' in client.get("/collections").text
    )


def test_cards_save_and_remove_papers_with_the_collection_chosen_in_the_form(
    alice: tuple[TestClient, str], site_db: Database
) -> None:
    client, csrf = alice
    client.post("/collections", data={"csrf_token": csrf, "name": "First"})
    client.post("/collections", data={"csrf_token": csrf, "name": "Second"})
    ids = _collection_ids(site_db, "alice")
    paper = PAPERS[1]["id"]
    day = client.get(f"/papers/date/{DAY}").text
    assert day.count('action="/collections/save"') == len(PAPERS)  # a form on every card

    form = {"csrf_token": csrf, "paper_id": paper, "next": f"/papers/date/{DAY}"}
    saved = client.post("/collections/save", data={**form, "collection_id": ids["Second"]})
    again = client.post("/collections/save", data={**form, "collection_id": ids["Second"]})

    assert saved.status_code == again.status_code == 200
    assert "Saved in &#39;Second&#39;." in saved.text
    assert "Already in &#39;Second&#39;." in again.text
    assert _saved_ids(site_db, ids["Second"]) == [paper] and _saved_ids(site_db, ids["First"]) == []
    start = again.text.rindex("<article", 0, again.text.index(f'href="/papers/{paper}"'))
    card = again.text[start:].split("</article>")[0]
    assert f'<option value="{ids["Second"]}" selected>\u2713 Second</option>' in card
    assert 'name="action" value="remove"' in card

    removed = client.post(
        "/collections/save", data={**form, "collection_id": ids["Second"], "action": "remove"}
    )
    assert "Removed from &#39;Second&#39;." in removed.text
    assert _saved_ids(site_db, ids["Second"]) == []


def test_the_owner_renames_publishes_and_deletes_through_forms(
    alice: tuple[TestClient, str], site_db: Database
) -> None:
    client, csrf = alice
    client.post("/collections", data={"csrf_token": csrf, "name": "Draft"})
    client.post("/collections", data={"csrf_token": csrf, "name": "Taken"})
    collection_id = _collection_ids(site_db, "alice")["Draft"]
    base = f"/collections/{collection_id}"
    page = client.get(base).text
    for action in ("rename", "visibility", "delete"):
        assert f'action="{base}/{action}"' in page

    duplicate = client.post(f"{base}/rename", data={"csrf_token": csrf, "name": "Taken"})
    renamed = client.post(f"{base}/rename", data={"csrf_token": csrf, "name": "Final"})
    public = client.post(f"{base}/visibility", data={"csrf_token": csrf, "public": "on"})

    assert "You already have a collection named &#39;Taken&#39;." in duplicate.text
    assert "Renamed to &#39;Final&#39;." in renamed.text
    assert "is now public" in public.text and '<span class="tag">public</span>' in public.text
    private = client.post(f"{base}/visibility", data={"csrf_token": csrf})
    assert "is now private" in private.text
    deleted = client.post(f"{base}/delete", data={"csrf_token": csrf})
    assert (
        deleted.url.path == "/collections"
        and "Deleted the collection &#39;Final&#39;" in deleted.text
    )
    assert client.get(base).status_code == 404
    assert set(_collection_ids(site_db, "alice")) == {"Taken"}


def test_forms_without_the_csrf_token_or_a_login_change_nothing(
    alice: tuple[TestClient, str], site: Site, site_db: Database
) -> None:
    client, csrf = alice
    client.post("/collections", data={"csrf_token": csrf, "name": "Mine"})
    collection_id = _collection_ids(site_db, "alice")["Mine"]
    anonymous = site()
    paper = PAPERS[0]["id"]
    posts = [
        ("/collections", {"name": "Sneaky"}),
        (f"/collections/{collection_id}/papers", {"paper_id": paper}),
        ("/collections/save", {"paper_id": paper, "collection_id": str(collection_id)}),
        (f"/collections/{collection_id}/rename", {"name": "Renamed"}),
        (f"/collections/{collection_id}/visibility", {"public": "on"}),
        (f"/collections/{collection_id}/delete", {}),
    ]

    for path, data in posts:
        forged = client.post(path, data={**data, "csrf_token": "forged"})
        missing = client.post(path, data=data)
        logged_out = anonymous.post(path, data=data, follow_redirects=False)
        assert forged.status_code == missing.status_code == 403, path
        assert logged_out.status_code in (303, 403), path
        if logged_out.status_code == 303:
            assert logged_out.headers["location"].startswith("/login")

    assert _collection_ids(site_db, "alice") == {"Mine": collection_id}
    assert _saved_ids(site_db, collection_id) == []
    assert not _is_public(site_db, collection_id)


def test_someone_elses_private_collection_answers_404_everywhere(
    alice: tuple[TestClient, str], site: Site, site_db: Database
) -> None:
    client, csrf = alice
    paper = PAPERS[0]["id"]
    client.post("/collections", data={"csrf_token": csrf, "name": "Secret", "paper_id": paper})
    private = _collection_ids(site_db, "alice")["Secret"]
    missing = private + 100
    bob = site()
    bob_csrf = log_in(bob, "bob")
    anonymous = site()
    bob_token, alice_token = _token(site_db, "bob"), _token(site_db, "alice")

    for collection_id in (private, missing):  # guessing an id tells nothing
        for reader in (bob, anonymous):
            for path in ("", ".bib", "/feed.rss", "/feed.atom"):
                assert reader.get(f"/collections/{collection_id}{path}").status_code == 404
        assert (
            bob.get(f"/api/collections/{collection_id}", headers=_bearer(bob_token)).status_code
            == 404
        )
        assert anonymous.get(f"/api/collections/{collection_id}").status_code == 404
        for path, data in [
            ("/papers", {"paper_id": PAPERS[1]["id"]}),
            ("/papers/remove", {"paper_id": paper}),
            ("/rename", {"name": "Bob's"}),
            ("/visibility", {"public": "on"}),
            ("/delete", {}),
        ]:
            answer = bob.post(
                f"/collections/{collection_id}{path}", data={**data, "csrf_token": bob_csrf}
            )
            assert answer.status_code == 404, path
        saved = bob.post(
            "/collections/save",
            data={"csrf_token": bob_csrf, "paper_id": paper, "collection_id": str(collection_id)},
        )
        assert saved.status_code == 404
        api = _bearer(bob_token)
        assert (
            bob.post(
                f"/api/collections/{collection_id}/papers", json={"paperId": paper}, headers=api
            ).status_code
            == 404
        )
        assert (
            bob.delete(f"/api/collections/{collection_id}/papers/{paper}", headers=api).status_code
            == 404
        )
        assert (
            bob.patch(
                f"/api/collections/{collection_id}", json={"name": "x"}, headers=api
            ).status_code
            == 404
        )
        assert bob.delete(f"/api/collections/{collection_id}", headers=api).status_code == 404
    same = [
        bob.get(f"/api/collections/{i}", headers=_bearer(bob_token))
        .json()["error"]
        .replace(str(i), "N")
        for i in (private, missing)
    ]
    assert same[0] == same[1]
    assert "Secret" not in bob.get("/users/alice/collections").text
    assert bob.get("/api/users/alice/collections").json() == []

    owner = anonymous.get(f"/api/collections/{private}", headers=_bearer(alice_token))
    assert owner.status_code == 200 and owner.json()["name"] == "Secret"
    assert client.get(f"/collections/{private}.bib").status_code == 200
    assert _saved_ids(site_db, private) == [paper]


def test_a_public_collection_is_read_by_anyone_and_changed_only_by_its_owner(
    alice: tuple[TestClient, str], site: Site, site_db: Database
) -> None:
    client, csrf = alice
    paper = PAPERS[0]["id"]
    client.post(
        "/collections",
        data={"csrf_token": csrf, "name": "Shared", "public": "on", "paper_id": paper},
    )
    public = _collection_ids(site_db, "alice")["Shared"]
    bob = site()
    bob_csrf = log_in(bob, "bob")
    api = _bearer(_token(site_db, "bob"))

    assert site().get(f"/collections/{public}").status_code == 200
    assert f'href="/papers/{paper}"' in bob.get(f"/collections/{public}").text
    assert (
        'action="/collections/'
        not in bob.get(f"/collections/{public}")
        .text.split("</header>")[1]
        .split('class="cards"')[0]
    )
    refused = [
        bob.post(f"/collections/{public}/rename", data={"csrf_token": bob_csrf, "name": "Bob's"}),
        bob.post(f"/collections/{public}/delete", data={"csrf_token": bob_csrf}),
        bob.post(
            f"/collections/{public}/papers/remove", data={"csrf_token": bob_csrf, "paper_id": paper}
        ),
        bob.post(
            f"/api/collections/{public}/papers", json={"paperId": PAPERS[1]["id"]}, headers=api
        ),
        bob.delete(f"/api/collections/{public}/papers/{paper}", headers=api),
        bob.patch(f"/api/collections/{public}", json={"public": False}, headers=api),
        bob.delete(f"/api/collections/{public}", headers=api),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert "Only the owner of this collection can change it." in refused[0].text
    assert _collection_ids(site_db, "alice") == {"Shared": public}
    assert _saved_ids(site_db, public) == [paper]
    assert [c["name"] for c in site().get("/api/users/alice/collections").json()] == ["Shared"]


def test_the_bibtex_export_downloads_and_parses(
    alice: tuple[TestClient, str], site_db: Database
) -> None:
    client, csrf = alice
    client.post("/collections", data={"csrf_token": csrf, "name": "Cite"})
    collection_id = _collection_ids(site_db, "alice")["Cite"]
    for paper in PAPERS[:5]:
        client.post(
            f"/collections/{collection_id}/papers",
            data={"csrf_token": csrf, "paper_id": paper["id"]},
        )
    assert (
        f'href="/collections/{collection_id}.bib"'
        in client.get(f"/collections/{collection_id}").text
    )

    export = client.get(f"/collections/{collection_id}.bib")

    assert export.status_code == 200
    assert export.headers["content-type"] == "application/x-bibtex; charset=utf-8"
    assert (
        export.headers["content-disposition"]
        == f'attachment; filename="collection-{collection_id}.bib"'
    )
    entries = bibtexparser.loads(export.text).entries
    titles = {p["id"]: " ".join(p["title"].split()) for p in PAPERS[:5]}
    assert {entry["ID"]: entry["title"] for entry in entries} == titles


def test_the_json_api_reads_and_changes_your_collections_with_a_token(
    site: Site, site_db: Database
) -> None:
    make_user(site_db, "alice")
    client = site()
    api = _bearer(_token(site_db, "alice"))

    made = client.post("/api/collections", json={"name": "Via API"}, headers=api)
    collection_id = made.json()["id"]
    added = [
        client.post(
            f"/api/collections/{collection_id}/papers", json={"paperId": p["id"]}, headers=api
        )
        for p in PAPERS[:3]
    ]
    again = client.post(
        f"/api/collections/{collection_id}/papers", json={"paperId": PAPERS[0]["id"]}, headers=api
    )
    unknown = client.post(
        f"/api/collections/{collection_id}/papers", json={"paperId": "2599.99999"}, headers=api
    )
    removed = client.delete(
        f"/api/collections/{collection_id}/papers/{PAPERS[1]['id']}", headers=api
    )
    renamed = client.patch(
        f"/api/collections/{collection_id}", json={"name": "Renamed", "public": True}, headers=api
    )
    empty_name = client.patch(
        f"/api/collections/{collection_id}", json={"name": "   "}, headers=api
    )
    no_token = client.post("/api/collections", json={"name": "Nope"})
    read = client.get(f"/api/collections/{collection_id}")  # public now: no token needed

    assert made.status_code == 201 and made.json()["public"] is False
    assert [r.json()["changed"] for r in added] == [True, True, True]
    assert again.json() == {"paperId": PAPERS[0]["id"], "changed": False, "numPapers": 3}
    assert unknown.status_code == 404
    assert removed.json()["changed"] is True and removed.json()["numPapers"] == 2
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    assert empty_name.status_code == 422 and "name" in empty_name.json()["error"]
    assert no_token.status_code == 401
    body = read.json()
    assert read.status_code == 200
    assert {k: body[k] for k in ("id", "name", "public", "owner", "numPapers")} == {
        "id": collection_id, "name": "Renamed", "public": True, "owner": "alice", "numPapers": 2,
    }  # fmt: skip
    assert [item["paper"]["id"] for item in body["papers"]] == [PAPERS[2]["id"], PAPERS[0]["id"]]
    assert body["papers"][0]["paper"]["title"] == PAPERS[2]["title"]
    assert all(item["addedAt"].endswith("Z") for item in body["papers"])
    assert client.delete(f"/api/collections/{collection_id}", headers=api).status_code == 204
    assert client.get(f"/api/collections/{collection_id}").status_code == 404


def test_a_public_collection_has_a_feed_advertised_in_its_head(
    alice: tuple[TestClient, str], site: Site, site_db: Database
) -> None:
    client, csrf = alice
    client.post("/collections", data={"csrf_token": csrf, "name": "Open", "public": "on"})
    client.post("/collections", data={"csrf_token": csrf, "name": "Closed"})
    ids = _collection_ids(site_db, "alice")
    for collection_id in ids.values():
        for paper in PAPERS[:3]:
            client.post(
                f"/collections/{collection_id}/papers",
                data={"csrf_token": csrf, "paper_id": paper["id"]},
            )
    visitor = site()

    open_head = visitor.get(f"/collections/{ids['Open']}").text.split("</head>")[0]
    closed_head = client.get(f"/collections/{ids['Closed']}").text.split("</head>")[0]
    feeds = [
        feedparser.parse(visitor.get(f"/collections/{ids['Open']}/feed.{form}").content)
        for form in ("rss", "atom")
    ]

    advertised = f'title="Collection: Open (Atom)" href="/collections/{ids["Open"]}/feed.atom"'
    assert f'type="application/atom+xml" {advertised}' in open_head
    assert f"/collections/{ids['Closed']}/feed" not in closed_head
    for feed, when in zip(feeds, ("published_parsed", "updated_parsed"), strict=True):
        assert feed.bozo == 0 and feed.feed.title == "paperfeed: Open"
        links = [entry.link.rsplit("/", 1)[1] for entry in feed.entries]
        assert links == [p["id"] for p in reversed(PAPERS[:3])]  # most recently saved first
        assert all(entry[when] for entry in feed.entries)  # when each was saved


def test_collection_names_are_escaped_everywhere(
    alice: tuple[TestClient, str], site_db: Database
) -> None:
    client, csrf = alice
    paper = PAPERS[0]["id"]
    client.post(
        "/collections",
        data={"csrf_token": csrf, "name": HOSTILE, "public": "on", "paper_id": paper},
    )
    collection_id = _collection_ids(site_db, "alice")[HOSTILE]

    pages = [
        client.get(f"/collections/{collection_id}").text,
        client.get("/collections").text,
        client.get(f"/papers/{paper}").text,
        client.get(f"/papers/date/{DAY}").text,
    ]
    feed = feedparser.parse(client.get(f"/collections/{collection_id}/feed.atom").content)

    for page in pages:
        assert "<script>alert" not in page and "<b>bold" not in page
        assert str(escape(HOSTILE)) in page
    assert feed.bozo == 0 and feed.feed.title == f"paperfeed: {HOSTILE}"
    assert re.search(r"<option[^>]*>\u2713 &lt;script&gt;", pages[3])
