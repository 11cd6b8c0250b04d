"""End to end in chromium: register, log in, upvote, submit, comment, log out; no payload runs.

Each step is a small function taking the page, so later features append their own steps to
`test_a_member_takes_part_from_registration_to_logging_out`.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from browser.conftest import PAYLOAD, LiveSite, Watched

PASSWORD = "correct horse battery"
DAY = "2025-10-03"


def register(page: Page, site: LiveSite, username: str) -> None:
    page.goto(f"{site.url}/register")
    page.fill("input[name=username]", username)
    page.fill("input[name=email]", f"{username}@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.click("button:has-text('Create account')")
    expect(page.locator("header a.me")).to_have_text(username)


def log_out(page: Page) -> None:
    page.click("header form.logout button")
    expect(page.locator(".flash.notice")).to_have_text("You are logged out.")
    expect(page.locator("header nav.account")).to_contain_text("Log in")


def log_in(page: Page, site: LiveSite, username: str) -> None:
    page.goto(f"{site.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    expect(page.locator("header a.me")).to_have_text(username)


def upvote_top_paper(page: Page, site: LiveSite) -> str:
    """Upvote the first card of the day with the plain form; returns its paper id."""
    page.goto(f"{site.url}/papers/date/{DAY}")
    card = page.locator("article.card").first
    paper_id = card.locator("h2 a").get_attribute("href").removeprefix("/papers/")
    before = int(card.locator(".votes .count").inner_text())
    card.locator("form.votes button").click()
    page.wait_for_url(f"**/papers/date/{DAY}")
    card = page.locator("article.card", has=page.locator(f"h2 a[href='/papers/{paper_id}']"))
    expect(card.locator(".votes .count")).to_have_text(str(before + 1))
    expect(card.locator("form.votes button")).to_have_attribute("aria-pressed", "true")
    return paper_id


def submit_paper(page: Page, site: LiveSite) -> None:
    page.goto(f"{site.url}/submit")
    page.fill("input[name=paper_id]", f"https://arxiv.org/abs/{site.fresh_id}")
    page.click("button:has-text('Submit')")
    page.wait_for_url(f"**/papers/{site.fresh_id}")
    expect(page.locator(".flash.notice")).to_contain_text("is on today's list, submitted by you.")
    expect(page.locator("h1")).to_have_text(" ".join(site.fresh_title.split()))
    expect(page.locator("ul.listings")).to_contain_text("submitted by")


def comment(page: Page, text: str) -> None:
    """Comment on the paper page the browser is on."""
    page.fill("#comment-body", text)
    page.click("button:has-text('Comment')")
    expect(page.locator("article.comment .comment-body").last).to_contain_text(text.split("\n")[0])


def test_a_member_takes_part_from_registration_to_logging_out(
    live_site: LiveSite, watched: Watched, artifacts: Path
) -> None:
    page = watched.page
    register(page, live_site, "reader")
    log_out(page)
    log_in(page, live_site, "reader")

    upvoted = upvote_top_paper(page, live_site)
    page.screenshot(path=str(artifacts / "feed.png"), full_page=True)

    submit_paper(page, live_site)
    payload = PAYLOAD.format(where="comment")
    comment(page, f"{payload}\nReally **neat** work.")
    body = page.locator("article.comment .comment-body").last
    expect(body).to_contain_text("<script>window.__pwned")  # shown as text
    expect(body.locator("strong")).to_have_text("neat")
    page.screenshot(path=str(artifacts / "paper.png"), full_page=True)

    page.goto(f"{live_site.url}/papers/{upvoted}")
    expect(page.locator("form.votes button")).to_have_attribute("aria-pressed", "true")
    log_out(page)

    assert watched.pwned() == "undefined"
    assert watched.dialogs == []
    assert (artifacts / "feed.png").stat().st_size > 10_000
    assert (artifacts / "paper.png").stat().st_size > 10_000


def test_script_payloads_in_imported_data_and_a_username_never_run(
    live_site: LiveSite, watched: Watched
) -> None:
    page = watched.page
    page.goto(f"{live_site.url}/papers/date/2025-10-01")
    card = page.locator("article.card").first
    expect(card.locator("h2")).to_contain_text('<script>window.__pwned = "title"</script>')
    expect(card.locator(".abstract")).to_contain_text("<script>")
    expect(card.locator(".authors")).to_contain_text("<img src=x")

    page.goto(f"{live_site.url}/papers/{live_site.hostile_id}")
    expect(page.locator("h1")).to_contain_text("<script>")
    expect(page.locator("section.abstract")).to_contain_text('window.__pwned = "abstract"')

    page.goto(f"{live_site.url}/register")
    hostile_name = PAYLOAD.format(where="username")
    page.fill("input[name=username]", hostile_name)
    page.fill("input[name=email]", "x@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.eval_on_selector("form[action='/register']", "form => form.noValidate = true")
    page.click("button:has-text('Create account')")
    expect(page.locator(".flash.error")).to_contain_text("A username has 2 to 40 letters")
    expect(page.locator("input[name=username]")).to_have_value(hostile_name[:40])  # maxlength

    assert watched.pwned() == "undefined"
    assert watched.dialogs == []


def test_upvoting_works_with_and_without_javascript(live_site: LiveSite, browser) -> None:
    """The script updates the count in place; with scripts off the form reloads the page."""
    for javascript in (True, False):
        context = browser.new_context(java_script_enabled=javascript)
        page = context.new_page()
        page.set_default_timeout(15_000)
        register(page, live_site, f"voter{'js' if javascript else 'plain'}")
        page.goto(f"{live_site.url}/papers/date/{DAY}")
        href = page.locator("article.card h2 a").nth(3).get_attribute("href")
        card = page.locator("article.card", has=page.locator(f"h2 a[href='{href}']"))
        count = card.locator(".votes .count")
        before = int(count.inner_text())
        loads: list[str] = []
        page.on("load", lambda _page, loads=loads: loads.append("load"))
        card.locator("form.votes button").click()
        expect(count).to_have_text(str(before + 1))
        card.locator("form.votes button").click()
        expect(count).to_have_text(str(before))
        expect(card.locator("form.votes button")).to_have_attribute("aria-pressed", "false")
        assert (loads == []) is javascript  # in place with the script, a reload without
        context.close()
