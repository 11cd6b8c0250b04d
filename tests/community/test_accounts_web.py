"""Account pages: register, log in (rate limited), log out, settings, CSRF on every form."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from fastapi.testclient import TestClient
from starlette.routing import Route
from support.accounts import PASSWORD, csrf_of, log_in, make_user

from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

Site = Callable[..., TestClient]
PAPER = "2510.02283"  # on the 3 October 2025 list
# Digest links from mail: the form carries the link's signed token, which proves it came from
# the mail (RFC 8058 one-click unsubscribe has no session), so no session CSRF token is asked.
SIGNED_LINK_FORMS = {"/digest/confirm", "/digest/unsubscribe", "/digest/preferences"}


def _flashes(page: str) -> list[str]:
    return re.findall(r'<p class="flash [a-z]+" role="[a-z]+">([^<]*)</p>', page)


def test_register_logs_in_and_the_first_account_is_admin(site: Site) -> None:
    client = site()
    form = client.get("/register?next=/papers/2510.02283")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text

    page = client.post("/register", data={
        "csrf_token": csrf_of(form.text), "username": "ada", "email": "ada@example.org",
        "password": PASSWORD, "password_again": PASSWORD, "next": "/papers/2510.02283",
    })  # fmt: skip

    assert page.url.path == "/papers/2510.02283"
    welcome = "Welcome, ada! As the first account, you are this site&#39;s admin."
    assert welcome in _flashes(page.text)
    assert '<a class="me" href="/settings">ada</a>' in page.text
    assert 'action="/logout"' in page.text and 'href="/login' not in page.text
    settings = client.get("/settings").text
    assert "ada@example.org" in settings and "admin" in settings
    assert 'href="/digest/subscribe"' in settings  # subscribe to digests from the account


def test_bad_registrations_keep_what_was_typed_and_say_why(site: Site, site_db: Database) -> None:
    make_user(site_db, "taken")
    client = site()
    token = csrf_of(client.get("/register").text)
    cases = [
        ({"username": "Taken", "password": PASSWORD}, "The username &#39;Taken&#39; is taken."),
        ({"username": "newbie", "password": "short"}, "The password needs at least 8 characters."),
        ({"username": "x y", "password": PASSWORD}, "A username has 2 to 40 letters"),
    ]
    for fields, message in cases:
        page = client.post("/register", data={
            "csrf_token": token, "email": "me@example.org", "password_again": fields["password"],
            **fields,
        })  # fmt: skip
        assert page.status_code == 400 and message in page.text
        assert 'value="me@example.org"' in page.text
    mismatch = client.post("/register", data={
        "csrf_token": token, "username": "newbie", "email": "me@example.org",
        "password": PASSWORD, "password_again": PASSWORD + "!",
    })  # fmt: skip
    assert mismatch.status_code == 400 and "The two passwords differ." in mismatch.text


def test_log_in_and_out(site: Site, site_db: Database) -> None:
    make_user(site_db, "bea")
    client = site()
    token = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"csrf_token": token, "username": "bea", "password": "nope"})
    assert wrong.status_code == 400 and "Wrong username or password." in wrong.text
    assert client.get("/settings", follow_redirects=False).headers["location"] == (
        "/login?next=/settings"
    )

    page = client.post("/login", data={
        "csrf_token": token, "username": "BEA", "password": PASSWORD, "next": "/settings",
    })  # fmt: skip
    assert page.url.path == "/settings" and "bea@example.org" in page.text

    assert "Log out" in client.get("/logout").text  # GET only shows the button
    assert client.get("/settings").url.path == "/settings"
    out = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert "You are logged out." in _flashes(out.text)
    assert client.get("/settings", follow_redirects=False).status_code == 303


def test_logging_out_ends_the_session_on_the_server(site: Site, site_db: Database) -> None:
    """Audit finding: after logout, a copy of the old session cookie still logged in."""
    make_user(site_db, "copy")
    browser = site()
    token = log_in(browser, "copy")
    stolen = dict(browser.cookies)
    browser.post("/logout", data={"csrf_token": token})
    thief = site(cookies=stolen)
    assert thief.get("/settings", follow_redirects=False).status_code == 303


def test_log_in_never_redirects_off_site(site: Site, site_db: Database) -> None:
    make_user(site_db, "cal")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client = site()
        token = csrf_of(client.get("/login").text)
        response = client.post("/login", follow_redirects=False, data={
            "csrf_token": token, "username": "cal", "password": PASSWORD, "next": target,
        })  # fmt: skip
        assert response.status_code == 303 and response.headers["location"] == "/"


def test_failed_log_ins_are_rate_limited_per_username_and_address(
    site: Site, site_db: Database
) -> None:
    make_user(site_db, "dan")
    attacker = site()
    token = csrf_of(attacker.get("/login").text)
    for _ in range(5):
        response = attacker.post(
            "/login", data={"csrf_token": token, "username": "dan", "password": "guess1234"}
        )
        assert response.status_code == 400
    paused = attacker.post(
        "/login", data={"csrf_token": token, "username": "dan", "password": PASSWORD}
    )
    assert paused.status_code == 429 and 0 < int(paused.headers["Retry-After"]) <= 900
    assert "Too many failed log-ins from your address" in paused.text
    other = site(client=("10.1.2.3", 5000))  # another address is not paused
    log_in(other, "dan")


def test_an_address_trying_many_usernames_is_paused(site: Site, site_db: Database) -> None:
    """Audit finding: failures were counted per username and address only."""
    attacker = site(client=("10.6.6.6", 4000))
    token = csrf_of(attacker.get("/login").text)
    statuses = [
        attacker.post(
            "/login", data={"csrf_token": token, "username": f"user{n}", "password": "guess1234"}
        ).status_code
        for n in range(21)
    ]
    assert statuses == [400] * 20 + [429]
    # X-Forwarded-For from a peer that is not a configured proxy changes nothing.
    spoofed = attacker.post(
        "/login",
        data={"csrf_token": token, "username": "user99", "password": "guess1234"},
        headers={"X-Forwarded-For": "192.0.2.77"},
    )
    assert spoofed.status_code == 429 and int(spoofed.headers["Retry-After"]) > 0


def test_registrations_are_limited_per_address(site: Site) -> None:
    client = site(client=("10.7.7.7", 4000))
    token = csrf_of(client.get("/register").text)
    statuses = []
    for number in range(6):
        client.cookies.clear()
        token = csrf_of(client.get("/register").text)
        statuses.append(client.post("/register", follow_redirects=False, data={
            "csrf_token": token, "username": f"new{number}", "email": f"n{number}@example.org",
            "password": PASSWORD, "password_again": PASSWORD,
        }).status_code)  # fmt: skip
    assert statuses == [303] * 5 + [429]


def test_changing_the_password_ends_other_sessions(site: Site, site_db: Database) -> None:
    make_user(site_db, "eve")
    laptop, phone = site(), site()
    token = log_in(laptop, "eve")
    log_in(phone, "eve")
    secret = re.search(
        r'<code id="new-token">([^<]+)</code>',
        laptop.post("/settings/tokens", data={"csrf_token": token}).text,
    ).group(1)
    api = site(headers={"Authorization": f"Bearer {secret}"})
    assert api.post(f"/api/papers/{PAPER}/upvote").status_code == 200

    page = laptop.post("/settings/password", data={
        "csrf_token": token, "current_password": PASSWORD,
        "new_password": "a brand new one", "new_password_again": "a brand new one",
    })  # fmt: skip

    assert "Your password is changed; other sessions are logged out." in _flashes(page.text)
    assert laptop.get("/settings").url.path == "/settings"
    assert phone.get("/settings", follow_redirects=False).status_code == 303
    log_in(phone, "eve", "a brand new one")
    assert api.post(f"/api/papers/{PAPER}/upvote").status_code == 401  # tokens end with it
    bad = laptop.post("/settings/password", data={
        "csrf_token": csrf_of(laptop.get("/settings").text), "current_password": "wrong one!",
        "new_password": "another new one", "new_password_again": "another new one",
    })  # fmt: skip
    assert bad.status_code == 400 and "The current password is not right." in bad.text


def test_api_tokens_from_the_settings_page(site: Site, site_db: Database) -> None:
    make_user(site_db, "fin")
    client = site()
    token = log_in(client, "fin")
    page = client.post("/settings/tokens", data={"csrf_token": token, "name": "<my script>"})
    secret = re.search(r'<code id="new-token">([^<]+)</code>', page.text).group(1)
    assert "&lt;my script&gt;" in page.text
    assert secret not in client.get("/settings").text  # shown once only

    api = site(headers={"Authorization": f"Bearer {secret}"})
    assert api.post(f"/api/papers/{PAPER}/upvote").json()["upvoted"] is True

    token_id = re.search(r'action="/settings/tokens/(\d+)/revoke"', page.text).group(1)
    revoked = client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert "The token is revoked." in _flashes(revoked.text)
    refused = api.post(f"/api/papers/{PAPER}/upvote")
    assert refused.status_code == 401
    assert refused.json() == {"error": "The API token is not valid, or it was revoked or expired."}


def _routes(routes) -> Iterator[Route]:
    """Every route of the app, inside included routers too."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI keeps included routers whole
            yield from _routes(route.original_router.routes)
        elif isinstance(route, Route):
            yield route


def test_every_form_post_needs_this_sessions_csrf_token(site: Site, site_db: Database) -> None:
    """Each POST route outside /api refuses a missing or foreign token with 403."""
    make_user(site_db, "gil", admin=True)
    victim, attacker = site(), site()
    log_in(victim, "gil")
    foreign = csrf_of(attacker.get("/login").text)  # a real token, of another session
    posts = sorted(
        route.path
        for route in _routes(victim.app.routes)
        if "POST" in (route.methods or ()) and not route.path.startswith("/api")
    )
    assert {"/register", "/login", "/logout", "/settings/password", "/settings/tokens",
            "/submit", "/papers/{arxiv_id:path}/upvote", "/papers/{arxiv_id:path}/comments",
            "/comments/{comment_id:id}/edit", "/comments/{comment_id:id}/delete",
            "/comments/{comment_id:id}/hide"} <= set(posts)  # fmt: skip
    for path in posts:
        url = re.sub(r"\{arxiv_id(:path)?\}", PAPER, path)
        url = re.sub(r"\{[a-z_]+(:[a-z]+)?\}", "1", url)
        for data in ({}, {"csrf_token": foreign}, {"csrf_token": ""}):
            response = victim.post(url, data={**data, "body": "x", "paper_id": PAPER})
            if path in SIGNED_LINK_FORMS:  # refused for want of the link's signed token
                assert response.status_code == 400, (path, data, response.status_code)
                continue
            assert response.status_code == 403, (path, data, response.status_code)
            assert "did not come from this site" in response.text
    assert victim.get("/settings").url.path == "/settings"  # nothing happened; still logged in


def test_workers_share_one_generated_key_so_a_log_in_holds_on_each(
    site_db: Database, tmp_path
) -> None:
    make_user(site_db, "hub")
    settings = Settings(database_url=site_db.url, home=tmp_path / "shared-home")
    with TestClient(create_app(settings, site_db)) as first:
        log_in(first, "hub")
        cookies = dict(first.cookies)
    with TestClient(create_app(settings, site_db), cookies=cookies) as second:  # another worker
        assert second.get("/settings").url.path == "/settings"
    key_file = tmp_path / "shared-home" / "secret_key"
    other_folder = Settings(database_url=site_db.url, home=tmp_path / "other-home")
    if site_db.url.startswith("postgresql"):
        # The key lives in the database: a node with another data folder is the same site.
        assert not key_file.exists()
        with TestClient(create_app(other_folder, site_db), cookies=cookies) as node:
            assert node.get("/settings").url.path == "/settings"
        return
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text()) >= 48
    with TestClient(create_app(other_folder, site_db), cookies=cookies) as stranger:
        assert stranger.get("/settings", follow_redirects=False).status_code == 303
