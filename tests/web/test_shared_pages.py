"""The pages file a node's workers share: version and age rules, and its size bound."""

from __future__ import annotations

import time
from pathlib import Path

from paperfeed.web import shared_pages
from paperfeed.web.shared_pages import SharedPages


def _page(body: bytes, version: tuple[int, ...] = (1,), age_s: float = 0.0):
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    return (200, headers, body, "digest", False, version, time.time() - age_s)


def test_a_page_is_shared_at_its_version_and_within_the_age_limit(tmp_path: Path) -> None:
    pages = SharedPages(tmp_path, max_age_s=60, max_bytes=10_000_000)
    pages.put("/papers?", _page(b"<p>now</p>"))
    pages.put("/old?", _page(b"<p>old</p>", age_s=61))
    other = SharedPages(tmp_path, max_age_s=60, max_bytes=10_000_000)  # another worker

    kept = other.get("/papers?", (1,))

    assert kept is not None and kept[2] == b"<p>now</p>"
    assert kept[1] == [(b"content-type", b"text/html; charset=utf-8")]
    assert other.get("/papers?", (2,)) is None  # the site changed since
    assert other.get("/old?", (1,)) is None  # past the age limit


def test_the_file_keeps_the_newest_pages_within_its_size_bound(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(shared_pages, "PRUNE_EVERY", 10)
    pages = SharedPages(tmp_path, max_age_s=600, max_bytes=50_000)
    for number in range(100):
        pages.put(f"/papers/{number}?", _page(b"x" * 10_000, age_s=(100 - number) / 1000))

    connection = pages.file.connection()
    assert connection is not None
    total, rows = connection.execute("SELECT sum(size), count(*) FROM pages").fetchone()
    assert total <= 50_000 and rows == 5
    assert pages.get("/papers/99?", (1,)) is not None  # the newest stay
    assert pages.get("/papers/0?", (1,)) is None
