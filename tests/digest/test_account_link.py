"""Account addresses are unverified: registering with someone's address gives no hold on their
subscription (no preferences link, no account link, no preview of their interests)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from digest.conftest import add_active, csrf_of
from paperfeed.digest import subscriptions
from paperfeed.store.models import OutboxRow


def test_an_account_with_someone_elses_address_cannot_reach_their_subscription(
    client, digest_db
) -> None:
    victim_id = add_active(digest_db, "victim@example.org", keywords="secret-interest")
    page = client.get("/register")
    registered = client.post(
        "/register",
        data={
            "username": "squatter",
            "email": "Victim@example.org",
            "password": "password123",
            "password_again": "password123",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert registered.status_code == 303

    form = client.get("/digest/subscribe")
    assert form.status_code == 200
    assert "/digest/preferences?token=" not in form.text
    assert "gets the daily digest" not in form.text

    # Subscribing with that address from the account must not link the active subscription.
    answer = client.post(
        "/digest/subscribe",
        data={
            "email": "victim@example.org",
            "frequency": "weekly",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert answer.status_code == 200
    with digest_db.sessions() as session:
        row = subscriptions.get(session, victim_id)
        assert row.user_id is None and row.frequency == "daily"
    assert "/digest/preferences?token=" not in client.get("/digest/subscribe").text
    preview = client.get("/digest/preview", params={"date": "2025-06-10"})
    assert "secret-interest" not in preview.text


def _confirm_token(message) -> str:
    plain = message.get_body(("plain",)).get_content()
    url = re.search(r"(http://testserver/digest/confirm\?token=\S+)", plain).group(1)
    return parse_qs(urlsplit(url).query)["token"][0]


def _subscribe(client, address: str, keywords: str) -> None:
    page = client.get("/digest/subscribe")
    response = client.post("/digest/subscribe", data={
        "email": address, "frequency": "daily", "keywords": keywords,
        "csrf_token": csrf_of(page.text),
    })  # fmt: skip
    assert response.status_code == 200, response.text


def test_a_pending_subscription_cannot_be_taken_over(client, digest_db, mail_server) -> None:
    """Audit finding: registering with a victim's unverified address and subscribing overwrote
    their pending subscription's account link and interests without a mail, and the victim's
    own confirmation link then activated the attacker's version."""
    handler, _ = mail_server
    victim = TestClient(client.app)
    _subscribe(victim, "target@example.org", "my-interest")
    [first] = handler.to("target@example.org")

    page = client.get("/register")
    client.post("/register", data={
        "username": "taker", "email": "target@example.org", "password": "password123",
        "password_again": "password123", "csrf_token": csrf_of(page.text),
    })  # fmt: skip
    _subscribe(client, "target@example.org", "attacker-interest")  # within the 5 minutes
    with digest_db.sessions() as session:
        row = subscriptions.by_email(session, "target@example.org")
        assert row.user_id is None and row.keywords == ["my-interest"]

    with digest_db.transaction() as session:  # as if the 5 minutes had passed
        session.query(OutboxRow).delete()
    _subscribe(client, "target@example.org", "attacker-interest")
    assert len(handler.to("target@example.org")) == 2  # a change always mails a new link
    stale = victim.post("/digest/confirm", data={"token": _confirm_token(first)})
    assert stale.status_code == 400 and "out of date" in stale.text
    with digest_db.sessions() as session:
        assert subscriptions.by_email(session, "target@example.org").status == "pending"


def test_preferences_links_expire_but_leaving_always_works(monkeypatch) -> None:
    """Audit finding: a preferences link (no log-in needed) worked forever."""
    import time

    import pytest

    from paperfeed.digest.tokens import InvalidToken, LinkSigner

    signer = LinkSigner("k" * 40)
    preferences = signer.make("preferences", 7, "a@example.org")
    leave = signer.make("unsubscribe", 7, "a@example.org")
    assert signer.read("preferences", preferences)[0] == 7
    later = time.time() + 31 * 24 * 3600
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    with pytest.raises(InvalidToken, match="latest digest"):
        signer.read("preferences", preferences)
    assert signer.read("unsubscribe", leave)[0] == 7
