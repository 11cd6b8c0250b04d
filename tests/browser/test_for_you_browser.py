"""In a real browser: onboarding, upvotes on its cards, then the "For you" page they shaped."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import HF_API_DIR
from sqlalchemy import select
from support.accounts import PASSWORD, make_user

from browser.conftest import LiveSite, Watched
from paperfeed.community import votes
from paperfeed.store.models import UserRow

PAPERS = [entry["paper"] for entry in json.loads((HF_API_DIR / "2025-10-03.json").read_text())]
# The week 2025-W40 of the for-you page holds 2 October too: its video papers count as well.
WEEK = PAPERS + [
    entry["paper"] for entry in json.loads((HF_API_DIR / "2025-10-02.json").read_text())
]


def test_onboarding_then_upvotes_then_for_you(
    live_site: LiveSite, watched: Watched, artifacts: Path
) -> None:
    make_user(live_site.db, "newcomer")
    # Other readers like the video papers, so they trend whatever earlier tests upvoted.
    video = [p["id"] for p in PAPERS if "video" in f"{p['title']} {p['summary']}".lower()]
    for fan in ("fan1", "fan2", "fan3"):
        make_user(live_site.db, fan)
        with live_site.db.transaction() as session:
            user = session.scalars(select(UserRow).where(UserRow.username == fan)).one()
            for paper_id in video[:4]:
                votes.upvote(session, user, paper_id)
    page = watched.page
    page.goto(f"{live_site.url}/login?next=/for-you")
    page.fill("input[name=username]", "newcomer")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text().startswith("For you")
    assert "Pick a few categories or papers" in page.locator(".onboarding").inner_text()

    page.click("a:has-text('Pick a few categories or papers')")
    page.wait_for_selector("h1:has-text('Start your')")
    offered = page.locator("article.card h2 a").evaluate_all(
        "links => links.map(a => a.pathname.split('/').pop())"
    )
    picked = [paper_id for paper_id in offered if paper_id in video][:2]
    assert picked, "the onboarding page offers trending video papers"
    for paper_id in picked:
        card = page.locator("article.card", has=page.locator(f"h2 a[href='/papers/{paper_id}']"))
        card.locator("form.votes button").click()
        # A selector, not a script: the site's CSP forbids evaluating strings.
        page.wait_for_selector(f"article.card form.votes.on[action='/papers/{paper_id}/upvote']")
    page.click("a:has-text('See my page')")
    page.wait_for_selector("h1")
    assert page.locator(".onboarding").count() == 0
    # The week of the listings (another test may have featured a paper today, the latest day).
    page.goto(f"{live_site.url}/for-you/week/2025-W40")
    page.wait_for_selector("article.card")
    reasons = page.locator("article.card p.reason").all_inner_texts()
    assert reasons and all(reason.startswith("Why: like «") for reason in reasons)
    first = page.locator("article.card h2 a").first
    first_id = first.evaluate("a => a.pathname.split('/').pop()")
    week_video = {p["id"] for p in WEEK if "video" in f"{p['title']} {p['summary']}".lower()}
    assert first_id in week_video and first_id not in picked
    page.screenshot(path=str(artifacts / "for-you-page.png"), full_page=True)

    # "Not interested" on the first card: it leaves the page, and the flash says so.
    page.locator("article.card").first.locator("form.dismiss button").click()
    page.wait_for_selector(".flash.notice")
    assert "Not interested in" in page.locator(".flash.notice").inner_text()
    shown = page.locator("article.card h2 a").evaluate_all(
        "links => links.map(a => a.pathname.split('/').pop())"
    )
    assert first_id not in shown
    assert watched.pwned() == "undefined" and watched.dialogs == []
