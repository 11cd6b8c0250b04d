"""Upvotes: one per user and paper, added to the imported count, exact under concurrency."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select
from support.accounts import DAY_FILES, make_user
from support.live_server import LiveServer

from paperfeed.community import accounts, votes
from paperfeed.domain import PaperNotFound
from paperfeed.ingest import hf_daily
from paperfeed.settings import Settings
from paperfeed.store import reader
from paperfeed.store.db import Database
from paperfeed.store.models import UpvoteRow
from paperfeed.web.app import create_app

# The most upvoted paper of 3 October 2025, with its imported (Hugging Face) count.
_ENTRIES = json.loads(DAY_FILES[1].read_text())
TOP = max(_ENTRIES, key=lambda e: e["paper"]["upvotes"])["paper"]
TOP_ID, TOP_BASE = TOP["id"], TOP["upvotes"]


def _upvotes(db: Database, paper_id: str) -> int:
    with db.sessions() as session:
        return reader.get_paper(session, paper_id).upvotes


def test_local_votes_add_to_the_imported_count_once_per_user(data_db: Database) -> None:
    ann, ben = make_user(data_db, "ann"), make_user(data_db, "ben")
    assert TOP_BASE > 0 and _upvotes(data_db, TOP_ID) == TOP_BASE

    with data_db.transaction() as session:
        assert votes.upvote(session, ann, TOP_ID).upvotes == TOP_BASE + 1
        assert votes.upvote(session, ann, TOP_ID).upvotes == TOP_BASE + 1  # a duplicate: no-op
        assert votes.upvote(session, ben, TOP_ID).upvotes == TOP_BASE + 2
    assert _upvotes(data_db, TOP_ID) == TOP_BASE + 2

    with data_db.transaction() as session:
        state = votes.toggle_upvote(session, ann, TOP_ID)
        assert (state.upvoted, state.upvotes) == (False, TOP_BASE + 1)
        assert votes.remove_upvote(session, ann, TOP_ID).upvotes == TOP_BASE + 1  # no-op
        assert votes.toggle_upvote(session, ann, TOP_ID).upvoted
        assert votes.upvoted_ids(session, ann) == {TOP_ID}
    assert _upvotes(data_db, TOP_ID) == TOP_BASE + 2


def test_a_local_vote_can_reorder_the_day(data_db: Database) -> None:
    ranked = [e["paper"] for e in sorted(_ENTRIES, key=lambda e: -e["paper"]["upvotes"])]
    # The neighbours closest in votes, so few local votes turn their order around.
    at = min(range(len(ranked) - 1), key=lambda i: ranked[i]["upvotes"] - ranked[i + 1]["upvotes"])
    first, second = ranked[at], ranked[at + 1]
    gap = first["upvotes"] - second["upvotes"]
    voters = [make_user(data_db, f"voter{n}") for n in range(gap + 1)]
    with data_db.transaction() as session:
        for voter in voters:
            votes.upvote(session, voter, second["id"])
    with data_db.sessions() as session:
        day = reader.latest_day(session, "featured")
        order = [e.paper.arxiv_id for e in reader.daily_entries(session, day, day, limit=100).items]
        assert reader.get_paper(session, second["id"]).upvotes == first["upvotes"] + 1
    assert order.index(second["id"]) < order.index(first["id"])


def test_voting_on_an_unknown_paper_is_refused(sqlite_db: Database) -> None:
    user = make_user(sqlite_db, "cy")
    with pytest.raises(PaperNotFound), sqlite_db.transaction() as session:
        votes.upvote(session, user, "2510.99999")


def test_parallel_api_votes_count_exactly(data_db: Database, tmp_path) -> None:
    """Many clients at once, through a real server: every vote counts once, duplicates never."""
    users = [make_user(data_db, f"fan{n}") for n in range(12)]
    with data_db.transaction() as session:
        tokens = [accounts.create_token(session, user).secret for user in users]
    settings = Settings(database_url=data_db.url, home=tmp_path / "home")
    url = f"/api/papers/{TOP_ID}/upvote"

    def vote(token: str) -> list[int]:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            return [client.post(url).status_code for _ in range(3)]  # each user clicks 3 times

    with LiveServer(create_app(settings, data_db)) as server:
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = [s for result in pool.map(vote, tokens) for s in result]
        assert statuses == [200] * 36
        assert _upvotes(data_db, TOP_ID) == TOP_BASE + 12

        def unvote(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
                return client.delete(url).json()["upvoted"]

        with ThreadPoolExecutor(max_workers=12) as pool:
            assert not any(pool.map(unvote, tokens[:5] * 2))  # five users, each twice at once
    assert _upvotes(data_db, TOP_ID) == TOP_BASE + 7
    with data_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(UpvoteRow)) == 7


def test_imports_keep_local_votes_while_the_imported_count_grows(
    data_db: Database, tmp_path
) -> None:
    user = make_user(data_db, "loyal")
    with data_db.transaction() as session:
        votes.upvote(session, user, TOP_ID)
    assert hf_daily.import_paths(data_db, DAY_FILES, force=True).ok  # the same data again
    assert _upvotes(data_db, TOP_ID) == TOP_BASE + 1

    later = [dict(e, paper=dict(e["paper"], upvotes=e["paper"]["upvotes"] + 10)) for e in _ENTRIES]
    recapture = tmp_path / DAY_FILES[1].name  # the same day, captured later with more votes
    recapture.write_text(json.dumps(later))
    assert hf_daily.import_paths(data_db, [recapture]).ok
    assert _upvotes(data_db, TOP_ID) == TOP_BASE + 10 + 1
