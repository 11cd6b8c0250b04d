"""The real Hugging Face client, huggingface_hub.HfApi, works against a running paperfeed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import HF_API_DIR
from support.files import hf_entries, hf_files
from support.live_server import LiveServer

from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app


@pytest.fixture(scope="module")
def server_url(feed_db: Database) -> Iterator[str]:
    """paperfeed served by uvicorn on a free loopback port, in a background thread."""
    # Module-scoped, so made before the autouse fixture turns the embedder off: off here.
    app = create_app(Settings(database_url=feed_db.url, embed_in_background=False), feed_db)
    with LiveServer(app) as server:
        yield server.url


@pytest.fixture
def api(server_url: str, monkeypatch: pytest.MonkeyPatch):
    """An HfApi pointed at the local server, online, anonymous and without telemetry."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read once, at import
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    return huggingface_hub.HfApi(endpoint=server_url, token=False)


def test_list_daily_papers_for_a_date_matches_hugging_faces_answer(api) -> None:
    theirs = json.loads((HF_API_DIR / "2025-06-10.json").read_text())

    papers = list(api.list_daily_papers(date="2025-06-10"))

    assert [p.id for p in papers] == [e["paper"]["id"] for e in theirs]
    assert [p.title for p in papers] == [e["title"] for e in theirs]
    # huggingface_hub reads 0 upvotes as None (`upvotes or None`), as it does for Hugging Face.
    assert [p.upvotes or 0 for p in papers] == [e["paper"]["upvotes"] for e in theirs]
    assert [p.comments for p in papers] == [e["numComments"] for e in theirs]
    assert papers[0].authors[-1].name == "Furu Wei"
    assert papers[0].authors[-1].user.username == "frontierai"


def test_paper_info_answers_title_authors_and_upvotes(api) -> None:
    theirs = json.loads((HF_API_DIR / "2025-06-10.json").read_text())[0]["paper"]

    info = api.paper_info("2506.08007")

    assert info.id == "2506.08007"
    assert info.title == "Reinforcement Pre-Training"
    assert [a.name for a in info.authors] == [a["name"] for a in theirs["authors"]]
    assert info.upvotes == 97
    assert info.published_at.isoformat() == "2025-06-09T17:59:53+00:00"
    assert info.submitted_by.username == "unilm"


def test_list_daily_papers_by_week_and_by_month(api) -> None:
    week = hf_entries([HF_API_DIR / f"2025-06-{d:02d}.json" for d in range(9, 14)])
    month = hf_entries(hf_files(HF_API_DIR, "2025-06"))

    by_week = list(api.list_daily_papers(week="2025-W24", limit=100))
    by_month = [
        paper.id
        for p in range(4)
        for paper in api.list_daily_papers(month="2025-06", limit=100, p=p)
    ]

    assert sorted(p.id for p in by_week) == sorted(e["paper"]["id"] for e in week)
    assert sorted(by_month) == sorted(e["paper"]["id"] for e in month)


def test_an_unknown_paper_raises_the_clients_404_error(api) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as raised:
        api.paper_info("2401.99999")

    assert raised.value.response.status_code == 404
