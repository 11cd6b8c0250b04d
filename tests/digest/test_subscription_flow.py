"""The whole way through a real SMTP server: subscribe, confirm, receive a digest, leave."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import parse_qs, urlsplit

from digest.conftest import BASE_URL, FAST_RETRY, csrf_of, links_in
from paperfeed.digest import service, subscriptions
from paperfeed.store.models import SubscriptionRow

DAY = date(2025, 6, 10)


def _status(db, address: str) -> str:
    with db.sessions() as session:
        return subscriptions.by_email(session, address).status


def _subscribe(client, address: str, **fields) -> str:
    page = client.get("/papers/date/2025-06-10")
    assert page.status_code == 200
    assert 'type="email"' in page.text and 'action="/digest/subscribe"' in page.text
    form = {"email": address, "frequency": "daily", "csrf_token": csrf_of(page.text), **fields}
    response = client.post("/digest/subscribe", data=form)
    assert response.status_code == 200, response.text
    return response.text


def test_double_opt_in_then_digest_then_one_click_unsubscribe(
    client, digest_db, digest_settings, mail_server
) -> None:
    handler, _ = mail_server
    text = _subscribe(client, "Reader@Example.org", keywords="diffusion", categories="cs.CV")
    assert "Check your inbox" in text
    assert _status(digest_db, "reader@example.org") == "pending"

    # Nothing but the confirmation is sent before the address confirms.
    composed, sent = service.send_digests(
        digest_db, digest_settings, "daily", DAY, retry=FAST_RETRY
    )
    assert composed.papers > 0 and composed.composed == 0 and sent.sent == 0
    [confirmation] = handler.to("reader@example.org")
    assert confirmation["Subject"] == "Confirm your paperfeed digest subscription"
    assert "List-Unsubscribe" not in confirmation
    plain = confirmation.get_body(("plain",)).get_content()
    confirm_url = re.search(r"(http://testserver/digest/confirm\?token=\S+)", plain).group(1)
    assert confirm_url in links_in(confirmation.get_body(("html",)).get_content())

    # The link shows a button (a link scanner's GET confirms nothing); the button confirms.
    page = client.get(confirm_url)
    assert page.status_code == 200 and "Confirm" in page.text
    assert _status(digest_db, "reader@example.org") == "pending"
    token = parse_qs(urlsplit(confirm_url).query)["token"][0]
    done = client.post("/digest/confirm", data={"token": token})
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert _status(digest_db, "reader@example.org") == "active"

    composed, sent = service.send_digests(
        digest_db, digest_settings, "daily", DAY, retry=FAST_RETRY
    )
    assert (composed.composed, sent.sent) == (1, 1)
    digest = handler.to("reader@example.org")[-1]
    assert digest["From"] == "paperfeed <digest@paperfeed.test>"
    assert digest["To"] == "reader@example.org"
    assert "Tuesday, 10 June 2025" in digest["Subject"]
    assert re.fullmatch(
        r"<paperfeed\.digest\.daily\.2025-06-10\.\d+@paperfeed\.test>", digest["Message-ID"]
    )
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = digest["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith(f"{BASE_URL}/digest/unsubscribe?token=")
    assert digest.get_content_type() == "multipart/alternative"
    plain = digest.get_body(("plain",)).get_content()
    html = digest.get_body(("html",)).get_content()
    assert "== Trending today ==" in plain and "== Matching your interests ==" in plain
    assert "Reinforcement Pre-Training" in plain and "Reinforcement Pre-Training" in html
    assert "97 upvotes" in plain  # the day's most upvoted paper, with its count
    assert 'style="' in html  # inline styles, the only kind mail clients keep
    ids = re.findall(r"arXiv:(\d{4}\.\d{5})", plain)
    assert len(ids) == len(set(ids)) > 5  # no paper twice

    # Every link to the site works against the running app; the rest point to arXiv.
    links = set(links_in(html))
    assert unsubscribe_url in links
    site_links = [link for link in links if link.startswith(BASE_URL)]
    assert len(site_links) > 5
    for link in site_links:
        assert client.get(link).status_code == 200, link
    assert all(link.startswith(("http://testserver/", "https://arxiv.org/")) for link in links)
    assert _status(digest_db, "reader@example.org") == "active"  # GETs changed nothing

    # RFC 8058: a POST of List-Unsubscribe=One-Click to the header's URL, no cookie, no CSRF.
    client.cookies.clear()
    left = client.post(
        unsubscribe_url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert left.status_code == 200 and "unsubscribed" in left.text
    assert _status(digest_db, "reader@example.org") == "unsubscribed"
    received = len(handler.received)
    composed, sent = service.send_digests(
        digest_db, digest_settings, "daily", date(2025, 6, 11), retry=FAST_RETRY
    )
    assert composed.composed == 0 and sent.sent == 0 and len(handler.received) == received


def test_unsubscribe_by_the_link_in_the_mail(
    client, digest_db, digest_settings, mail_server
) -> None:
    handler, _ = mail_server
    from digest.conftest import add_active

    add_active(digest_db, "link@example.org")
    service.send_digests(digest_db, digest_settings, "daily", DAY, retry=FAST_RETRY)
    [digest] = handler.to("link@example.org")
    plain = digest.get_body(("plain",)).get_content()
    url = re.search(r"Unsubscribe: (\S+)", plain).group(1)
    page = client.get(url)
    assert page.status_code == 200 and "Stop sending" in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    response = client.post("/digest/unsubscribe", data={"token": token})
    assert response.status_code == 200 and "unsubscribed" in response.text
    assert _status(digest_db, "link@example.org") == "unsubscribed"
    assert client.post("/digest/unsubscribe", data={"token": token}).status_code == 200


def test_preferences_page_from_the_mail(client, digest_db, digest_settings, mail_server) -> None:
    handler, _ = mail_server
    from digest.conftest import add_active

    add_active(digest_db, "prefs@example.org")
    service.send_digests(digest_db, digest_settings, "daily", DAY, retry=FAST_RETRY)
    plain = handler.to("prefs@example.org")[0].get_body(("plain",)).get_content()
    url = re.search(r"Change preferences: (\S+)", plain).group(1)
    token = parse_qs(urlsplit(url).query)["token"][0]
    page = client.get(url)
    assert page.status_code == 200 and "prefs@example.org" in page.text
    bad = client.post("/digest/preferences", data={"token": token, "categories": "<script>"})
    assert bad.status_code == 422 and "&lt;script&gt;" in bad.text and "<script>" not in bad.text
    saved = client.post(
        "/digest/preferences",
        data={
            "token": token,
            "frequency": "weekly",
            "categories": "cs.CL, cs.CL",
            "keywords": "agents",
            "organizations": "Qwen",
        },
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    with digest_db.sessions() as session:
        row = subscriptions.by_email(session, "prefs@example.org")
        assert (row.frequency, row.categories, row.keywords, row.organizations) == (
            "weekly",
            ["cs.CL"],
            ["agents"],
            ["Qwen"],
        )


def test_bad_requests_get_clear_answers_and_change_nothing(
    client, digest_db, digest_settings, mail_server, monkeypatch
) -> None:
    handler, _ = mail_server
    page = client.get("/papers")
    csrf = csrf_of(page.text)
    not_an_address = client.post("/digest/subscribe", data={"email": "x@", "csrf_token": csrf})
    assert not_an_address.status_code == 422 and "is not an email address" in not_an_address.text
    bad_category = client.post(
        "/digest/subscribe",
        data={"email": "a@example.org", "categories": "not a category!", "csrf_token": csrf},
    )
    assert bad_category.status_code == 422 and "arXiv category" in bad_category.text
    no_csrf = client.post("/digest/subscribe", data={"email": "a@example.org"})
    assert no_csrf.status_code == 403
    with digest_db.sessions() as session:
        assert session.query(SubscriptionRow).count() == 0
    assert handler.received == []

    for path in ("/digest/confirm", "/digest/unsubscribe", "/digest/preferences"):
        assert client.get(path, params={"token": "forged.token.here"}).status_code == 400
    tampered = client.post("/digest/unsubscribe", params={"token": "WzEsIngiXQ.bad.sig"})
    assert tampered.status_code == 400 and "not valid" in tampered.text

    # An expired confirmation link says so; subscribing again sends a fresh one.
    import time

    from paperfeed.core.secrets import site_secret
    from paperfeed.digest.tokens import LinkSigner

    _subscribe(client, "late@example.org")
    with digest_db.sessions() as session:
        row = subscriptions.by_email(session, "late@example.org")
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: 1_000_000_000.0)
        old = LinkSigner(site_secret(digest_settings)).make("confirm", row.id, row.email)
    expired = client.get("/digest/confirm", params={"token": old})
    assert expired.status_code == 400 and "expired" in expired.text
    # A token for another purpose is refused too (an unsubscribe link cannot confirm).
    other = LinkSigner(site_secret(digest_settings)).make("unsubscribe", row.id, row.email)
    assert client.post("/digest/confirm", data={"token": other}).status_code == 400
    assert _status(digest_db, "late@example.org") == "pending"


def test_subscribing_again_neither_floods_nor_changes_an_active_subscription(
    client, digest_db, mail_server
) -> None:
    handler, _ = mail_server
    _subscribe(client, "twice@example.org", keywords="agents")
    _subscribe(client, "twice@example.org", keywords="other")
    assert len(handler.to("twice@example.org")) == 1  # one confirmation per 5 minutes
    with digest_db.transaction() as session:
        row = subscriptions.by_email(session, "twice@example.org")
        assert row.keywords == ["agents"]  # unchanged: the link mailed confirms what it said
        subscriptions.confirm(session, row)
        session.flush()
        from paperfeed.store.models import OutboxRow

        session.query(OutboxRow).delete()  # as if the 5 minutes had passed
    _subscribe(client, "twice@example.org", keywords="hijack")
    [notice] = handler.to("twice@example.org")[1:]
    assert notice["Subject"] == "Your paperfeed digest preferences"
    with digest_db.sessions() as session:
        assert subscriptions.by_email(session, "twice@example.org").keywords == ["agents"]


def test_every_feed_page_carries_the_sign_up_form(client) -> None:
    for path in (
        "/",
        "/papers",
        "/papers/date/2025-06-10",
        "/papers/week/2025-W24",
        "/papers/month/2025-06",
        "/papers/date/2025-06-14",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        form = page.text[page.text.index('<form class="subscribe"') :]
        assert 'method="post" action="/digest/subscribe"' in form[:200], path
        assert 'type="email"' in form and 'name="csrf_token"' in form, path


def test_simultaneous_requests_for_one_new_address_make_one_subscription(
    digest_db, digest_settings, mail_server
) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from paperfeed.digest.subscriptions import Interests

    barrier = Barrier(4)

    def request(_: int) -> tuple[int, str]:
        barrier.wait()
        return service.subscribe(
            digest_db, digest_settings, "race@example.org", "daily", Interests()
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(request, range(4)))
    assert len(set(results)) == 1 and results[0][1] == "race@example.org"
    with digest_db.sessions() as session:
        assert session.query(SubscriptionRow).count() == 1
