"""Ids past 64 bits name nothing: 404 everywhere, never a 500 (audit finding)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from support.accounts import csrf_of, log_in, make_user

from paperfeed.community import accounts
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

HUGE = "99999999999999999999"
SCHEMATHESIS = "437591642869555441696768"  # what schemathesis sent


def test_huge_ids_are_not_found(db: Database) -> None:
    user = make_user(db, "ids")
    with db.transaction() as session:
        bearer = {"Authorization": f"Bearer {accounts.create_token(session, user).secret}"}
    with TestClient(create_app(Settings(database_url=db.url), db)) as client:
        token = log_in(client, "ids")
        api = TestClient(client.app, headers=bearer)
        answers = [
            client.get(f"/collections/{HUGE}"),
            client.get(f"/collections/{HUGE}.bib"),
            client.get(f"/collections/{HUGE}/feed.rss"),
            client.post(f"/collections/{HUGE}/rename", data={"csrf_token": token, "name": "x"}),
            client.post(f"/comments/{HUGE}/edit", data={"csrf_token": token, "body": "x"}),
            client.post(f"/settings/tokens/{HUGE}/revoke", data={"csrf_token": token}),
            client.post("/collections/save", data={
                "csrf_token": token, "collection_id": HUGE, "paper_id": "2510.02283",
            }),
            api.get(f"/api/collections/{HUGE}"),
            api.patch(f"/api/collections/{HUGE}", json={"name": "x"}),
            api.delete(f"/api/collections/{SCHEMATHESIS}/papers/0"),
        ]
        assert [a.status_code for a in answers] == [404] * len(answers), [
            (a.request.url.path, a.status_code) for a in answers
        ]
        # The largest id that fits is an ordinary unknown one.
        assert client.get("/collections/2147483647").status_code == 404
        assert client.get("/collections/2147483648").status_code == 404
        assert csrf_of(client.get("/settings").text)
