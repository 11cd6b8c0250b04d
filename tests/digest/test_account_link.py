"""Account addresses are unverified: registering with someone's address gives no hold on their
subscription (no preferences link, no account link, no preview of their interests)."""

from __future__ import annotations

from digest.conftest import add_active, csrf_of
from paperfeed.digest import subscriptions


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
