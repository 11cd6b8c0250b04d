"""In a real browser: make a collection, save papers to it, view it, export and parse its BibTeX."""

from __future__ import annotations

import json
from pathlib import Path

import bibtexparser
from conftest import HF_API_DIR
from support.accounts import PASSWORD, make_user

from browser.conftest import PAYLOAD, LiveSite, Watched

PAPERS = [entry["paper"] for entry in json.loads((HF_API_DIR / "2025-10-03.json").read_text())]


def test_make_a_collection_save_papers_view_it_and_export_bibtex(
    live_site: LiveSite, watched: Watched, artifacts: Path
) -> None:
    make_user(live_site.db, "curator")
    page = watched.page
    first, second = PAPERS[0], PAPERS[1]
    name = "Reading " + PAYLOAD.format(where="coll")
    assert len(name) <= 100  # the form's maxlength

    page.goto(f"{live_site.url}/login")
    page.fill("input[name=username]", "curator")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_selector("nav.account a.me")

    # From a paper page: make a collection and save the paper in it, in one form.
    page.goto(f"{live_site.url}/papers/{first['id']}")
    panel = page.locator("#collections")
    panel.locator("input[name=name]").fill(name)
    panel.locator("input[name=public]").check()
    panel.locator("form.new-collection button[type=submit]").click()
    page.wait_for_selector(".flash.notice")
    assert "saved the paper in it" in page.locator(".flash.notice").inner_text()
    assert panel.locator("button", has_text="Remove").count() == 1

    # From a card on the day's list: pick the collection in the card's form and save.
    page.goto(f"{live_site.url}/papers/date/2025-10-03")
    card = page.locator("article.card", has=page.locator(f"h2 a[href='/papers/{second['id']}']"))
    card.locator("form.save button[value=add]").click()
    page.wait_for_selector(".flash.notice")
    assert page.locator(".flash.notice").inner_text().startswith("Saved in ")

    # The user's collections, then the collection's own page with both papers.
    page.goto(f"{live_site.url}/collections")
    page.locator("table.collections a").first.click()
    page.wait_for_selector("article.card")
    assert page.locator("h1").inner_text() == name  # shown as text, never run
    shown = page.locator("article.card h2 a").evaluate_all("links => links.map(a => a.pathname)")
    assert shown == [f"/papers/{second['id']}", f"/papers/{first['id']}"]  # latest saved first
    page.screenshot(path=str(artifacts / "collection-page.png"), full_page=True)

    # Export: the BibTeX link downloads a file that bibtexparser reads.
    with page.expect_download() as download_info:
        page.click("a[href$='.bib']")
    download = download_info.value
    target = artifacts / "collection.bib"
    download.save_as(target)
    entries = bibtexparser.loads(target.read_text()).entries

    assert download.suggested_filename.startswith("collection-")
    assert {entry["ID"] for entry in entries} == {first["id"], second["id"]}
    titles = {entry["ID"]: entry["title"] for entry in entries}
    assert titles[first["id"]] == " ".join(first["title"].split())
    assert watched.dialogs == [] and watched.pwned() == "undefined"
