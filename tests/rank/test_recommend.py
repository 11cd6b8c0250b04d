"""The recommender on real papers: the early-October 2025 daily lists (194 papers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from support.accounts import make_user
from support.search_corpus import import_october

from paperfeed.community import collections, votes
from paperfeed.rank import dismissals, follows, reader_state, recommend
from paperfeed.rank.recommend import Recommender
from paperfeed.search.embedding import paper_text, text_hash
from paperfeed.search.vectors import store as vectors_store
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import PaperRow, UserRow
from paperfeed.store.reader import load_papers

FIRST, LAST = date(2025, 10, 1), date(2025, 10, 9)  # the days of OCTOBER_FILES


@pytest.fixture(scope="module")
def october(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """An SQLite database of the October lists, shared by the tests that only read papers."""
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('rec') / 'rec.db'}")
    import_october(database)
    yield database
    database.close()


def _recommender(db: Database, tmp_path: Path, **settings) -> Recommender:
    return Recommender(Settings(home=tmp_path / "home", database_url=db.url, **settings))


def _papers_about(db: Database, word: str) -> list[str]:
    with db.sessions() as session:
        rows = session.execute(select(PaperRow.id, PaperRow.title, PaperRow.abstract)).all()
    return sorted(r.id for r in rows if word in f"{r.title} {r.abstract}".lower())


def _is_about(db: Database, ids: list[str], word: str) -> list[bool]:
    with db.sessions() as session:
        papers = load_papers(session, ids)
    return [word in f"{papers[i].title} {papers[i].abstract}".lower() for i in ids]


def _ids(db: Database, user: UserRow, recommender: Recommender, size: int = 50) -> list[str]:
    with db.sessions() as session:
        page = recommender.recommend(session, user.id, FIRST, LAST, page_size=size)
    return [item.paper.arxiv_id for item in page.items]


def _user(db: Database, name: str) -> UserRow:
    return make_user(db, name)


def test_a_reader_who_upvoted_diffusion_papers_gets_diffusion_papers_first(
    db: Database, tmp_path: Path
) -> None:
    import_october(db)  # on SQLite and PostgreSQL
    diffusion = _papers_about(db, "diffusion")
    assert 20 <= len(diffusion) <= 30  # of 194: about one paper in eight
    reader = _user(db, "ann")
    with db.transaction() as session:
        for paper_id in diffusion[:5]:
            votes.upvote(session, reader, paper_id)
    recommender = _recommender(db, tmp_path)
    with db.sessions() as session:
        page = recommender.recommend(session, reader.id, FIRST, LAST, page_size=10)
    ids = [item.paper.arxiv_id for item in page.items]
    assert not page.cold
    assert not set(ids) & set(diffusion[:5])  # what the reader upvoted is not offered again
    assert sum(_is_about(db, ids[:5], "diffusion")) >= 4
    assert sum(_is_about(db, ids, "diffusion")) >= 6
    with db.sessions() as session:
        liked_titles = {p.title for p in load_papers(session, diffusion[:5]).values()}
    for item in page.items:
        assert item.reason.startswith("like «")
        assert any(item.reason[6:30] in " ".join(title.split()) for title in liked_titles)


def test_stored_embeddings_take_part_and_keep_diffusion_first(
    october: Database, tmp_path: Path, static_embedder
) -> None:
    with october.sessions() as session:
        rows = session.execute(select(PaperRow.id, PaperRow.title, PaperRow.abstract)).all()
    texts = [paper_text(r.title, r.abstract) for r in rows]
    vectors = static_embedder.embed(texts)
    with october.transaction() as session:
        vectors_store.save_embeddings(
            session,
            static_embedder.name,
            [(r.id, text_hash(t), v) for r, t, v in zip(rows, texts, vectors, strict=True)],
        )
    reader = _user(october, "bea")
    diffusion = _papers_about(october, "diffusion")
    with october.transaction() as session:
        for paper_id in diffusion[5:10]:
            votes.upvote(session, reader, paper_id)
    recommender = _recommender(october, tmp_path, embedding_model="static")
    with october.sessions() as session:
        pool = recommender.pool(session, FIRST, LAST)
        assert pool.model == static_embedder.name
        assert pool.candidates.has_vector is not None and pool.candidates.has_vector.all()
    ids = _ids(october, reader, recommender, 10)
    # About one paper in eight is about diffusion; here most of the first ten are.
    assert sum(_is_about(october, ids[:5], "diffusion")) >= 3
    assert sum(_is_about(october, ids, "diffusion")) >= 6


def test_not_interested_removes_the_paper_and_lowers_its_near_neighbours(
    october: Database, tmp_path: Path
) -> None:
    reader = _user(october, "cem")
    liked = _papers_about(october, "reinforcement learning")[:4]
    with october.transaction() as session:
        for paper_id in liked:
            votes.upvote(session, reader, paper_id)
    recommender = _recommender(october, tmp_path)
    with october.sessions() as session:
        pool = recommender.pool(session, FIRST, LAST)
        before = _scores(recommender, session, reader, pool)
    ranked = sorted(before, key=lambda i: -before[i])
    dismissed = ranked[0]
    rows = pool.candidates.words
    row = pool.ids.index(dismissed)
    closeness = (rows @ rows[row].T).toarray().ravel()
    offered = [i for i, paper_id in enumerate(pool.ids) if paper_id in before and i != row]
    neighbour = pool.ids[max(offered, key=lambda i: closeness[i])]
    far = pool.ids[min(offered, key=lambda i: closeness[i])]
    with october.transaction() as session:
        assert dismissals.dismiss(session, reader, dismissed)
    with october.sessions() as session:
        after = _scores(recommender, session, reader, pool)
    assert dismissed not in after
    assert after[neighbour] < before[neighbour] - 0.1
    assert after[far] == pytest.approx(before[far], abs=1e-6)  # unlike papers keep their score
    with october.transaction() as session:  # undo: it is back where it was
        assert dismissals.undo(session, reader, dismissed)
    with october.sessions() as session:
        again = _scores(recommender, session, reader, pool)
    assert again[dismissed] == pytest.approx(before[dismissed])


def _scores(recommender: Recommender, session, reader: UserRow, pool) -> dict[str, float]:
    profile = recommend.load_profile(session, reader.id)
    taste, titles = recommender.taste(session, profile, pool)
    return {pool.ids[r.row]: r.score for r in recommender.rank(profile, pool, taste, titles)}


def test_a_followed_authors_paper_is_on_the_list_with_its_reason(
    october: Database, tmp_path: Path
) -> None:
    reader = _user(october, "dan")
    diffusion = _papers_about(october, "diffusion")
    with october.transaction() as session:
        for paper_id in diffusion[:5]:
            votes.upvote(session, reader, paper_id)
    recommender = _recommender(october, tmp_path)
    before = _ids(october, reader, recommender, 200)
    target = before[-1]  # the paper least like what the reader upvoted
    with october.sessions() as session:
        author = load_papers(session, [target])[target].authors[-1].name
    with october.transaction() as session:
        follows.follow(session, reader, "author", f"  {author.upper()} ")  # any spelling
    with october.sessions() as session:
        page = recommender.recommend(session, reader.id, FIRST, LAST, page_size=20)
    reasons = {item.paper.arxiv_id: item.reason for item in page.items}
    assert target in reasons
    assert reasons[target] == f"by an author you follow ({author})"


def test_category_and_saved_search_follows_lift_papers_with_their_reasons(
    sqlite_db: Database, arxiv_sample, tmp_path: Path
) -> None:
    from paperfeed.ingest import arxiv_jsonl

    assert arxiv_jsonl.import_file(sqlite_db, arxiv_sample(400)).ok  # 18 and 19 March 2025
    reader = _user(sqlite_db, "eve")
    with sqlite_db.transaction() as session:
        follows.follow(session, reader, "search", "Autonomous  Driving")
        follows.follow(session, reader, "category", "cs.RO")
    recommender = _recommender(sqlite_db, tmp_path)
    with sqlite_db.sessions() as session:
        page = recommender.recommend(
            session, reader.id, date(2025, 3, 18), date(2025, 3, 19), page_size=40
        )
        papers = load_papers(session, [i.paper.arxiv_id for i in page.items])
    assert not page.cold
    reasons = [item.reason for item in page.items]
    assert "matches your search «Autonomous Driving»" in reasons
    assert "in a category you follow (cs.RO)" in reasons
    for item in page.items:
        paper = papers[item.paper.arxiv_id]
        text = " ".join(f"{paper.title} {paper.abstract}".lower().split())
        if item.reason.startswith("matches your search"):
            assert "autonomous" in text and "driv" in text
        if item.reason.startswith("in a category you follow"):
            assert "cs.RO" in paper.categories
    # Papers matching a follow come before those that match none.
    followed = [r.startswith(("matches", "in a")) for r in reasons]
    assert followed == sorted(followed, reverse=True)


def test_a_reader_with_no_signals_gets_trending_papers(october: Database, tmp_path: Path) -> None:
    reader = _user(october, "fay")
    recommender = _recommender(october, tmp_path)
    with october.sessions() as session:
        page = recommender.recommend(session, reader.id, FIRST, LAST, page_size=10)
        pool = recommender.pool(session, FIRST, LAST)
    assert page.cold
    assert [i.paper.arxiv_id for i in page.items] == pool.ids[:10]  # the trending order
    assert {i.reason for i in page.items} == {"trending"}


def test_clearing_the_history_empties_the_profile(october: Database, tmp_path: Path) -> None:
    reader = _user(october, "gus")
    papers = _papers_about(october, "agent")[:3]
    with october.transaction() as session:
        votes.upvote(session, reader, papers[0])
        shelf = collections.create(session, reader, "Reading")
        collections.add_paper(session, reader, shelf.id, papers[1])
        dismissals.dismiss(session, reader, papers[2])
        follows.follow(session, reader, "category", "cs.CL")
    with october.sessions() as session:
        profile = recommend.load_profile(session, reader.id)
    assert {s.paper_id for s in profile.liked} == set(papers[:2])
    assert [s.paper_id for s in profile.disliked] == [papers[2]]
    assert [f.label for f in profile.follows] == ["cs.CL"]
    with october.transaction() as session:
        reader_state.clear_history(session, reader)
    with october.sessions() as session:
        profile = recommend.load_profile(session, reader.id)
        assert votes.has_upvoted(session, reader, papers[0])  # the community's count stays
    assert (profile.liked, profile.disliked, profile.follows) == ([], [], [])
    assert profile.cold
    with october.transaction() as session:  # what comes after the clearing counts again
        votes.remove_upvote(session, reader, papers[0])
        votes.upvote(session, reader, papers[0])
    with october.sessions() as session:
        assert [s.paper_id for s in recommend.load_profile(session, reader.id).liked] == [
            papers[0]
        ]


def test_recent_likes_weigh_more_than_old_ones() -> None:
    from paperfeed.rank.content import HALF_LIFE_DAYS, recency_weight

    weights = recency_weight([0, HALF_LIFE_DAYS, 2 * HALF_LIFE_DAYS, -5])
    assert weights.tolist() == pytest.approx([1.0, 0.5, 0.25, 1.0])


def test_a_profile_reads_upvotes_saves_and_dismissals_on_both_databases(db: Database) -> None:
    import_october(db)
    reader, other = _user(db, "hal"), _user(db, "ida")
    papers = _papers_about(db, "agent")[:4]
    with db.transaction() as session:
        votes.upvote(session, reader, papers[0])
        shelf = collections.create(session, reader, "Reading")
        collections.add_paper(session, reader, shelf.id, papers[1])
        dismissals.dismiss(session, reader, papers[2])
        votes.upvote(session, other, papers[3])  # another reader's signal is not this one's
        dismissals.dismiss(session, other, papers[0])
    with db.sessions() as session:
        profiles = recommend.load_profiles(session, [reader.id, other.id])
    mine, theirs = profiles[reader.id], profiles[other.id]
    assert {s.paper_id for s in mine.liked} == set(papers[:2])
    assert [s.paper_id for s in mine.disliked] == [papers[2]]
    assert all(s.at.tzinfo is not None for s in mine.liked + mine.disliked)
    assert ([s.paper_id for s in theirs.liked], [s.paper_id for s in theirs.disliked]) == (
        [papers[3]], [papers[0]]
    )
    with db.transaction() as session:  # the other clears their history, then upvotes again
        follows.follow(session, other, "category", "cs.CL")
        reader_state.clear_history(session, other)
        follows.follow(session, other, "author", "Yann LeCun")
        votes.upvote(session, other, papers[2])
    with db.sessions() as session:
        profiles = recommend.load_profiles(session, [reader.id, other.id])
    mine, theirs = profiles[reader.id], profiles[other.id]
    assert mine.cleared_at is None and theirs.cleared_at is not None
    assert [s.paper_id for s in theirs.liked] == [papers[2]]
    assert (theirs.disliked, [f.label for f in theirs.follows]) == ([], ["Yann LeCun"])
    assert {s.paper_id for s in mine.liked} == set(papers[:2])


def test_kept_cosines_score_as_fresh_ones_after_each_new_signal(october: Database) -> None:
    from paperfeed.rank import content

    with october.sessions() as session:
        rows = session.execute(select(PaperRow.id, PaperRow.title, PaperRow.abstract)).all()
    texts = [content.paper_words(r.title, r.abstract or "") for r in rows]
    space = content.WordSpace.fit(texts)
    words = space.transform(texts)
    vectors = np.random.default_rng(3).normal(size=(len(rows), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [r.id for r in rows]
    kept = content.Candidates(ids[:150], words[:150], vectors[:150], np.ones(150, dtype=bool))

    def taste(liked: list[int], disliked: list[int]) -> content.Taste:
        return content.Taste(
            liked=[ids[i] for i in liked], words=words[liked], weights=np.ones(len(liked)),
            vectors=vectors[liked], disliked=[ids[i] for i in disliked],
            disliked_words=words[disliked], disliked_vectors=vectors[disliked],
        )  # fmt: skip

    liked, disliked = [150, 151], [160]
    for new in (152, 153, 154):  # one more like each time; the kept columns serve the others
        liked.append(new)
        fresh = content.Candidates(ids[:150], words[:150], vectors[:150], np.ones(150, dtype=bool))
        expected = content.score(fresh, taste(liked, disliked))
        got = content.score(kept, taste(liked, disliked))
        assert np.allclose(got.scores, expected.scores, atol=1e-5)
        assert (got.closest == expected.closest).all()
    assert len(kept._close) == 2 * (len(liked) + len(disliked))  # words and vectors per paper
    changed = vectors.copy()
    changed[150] = vectors[151]  # a paper re-embedded: its kept products are not reused
    vectors = changed
    assert np.allclose(
        content.score(kept, taste(liked, disliked)).scores,
        content.score(
            content.Candidates(ids[:150], words[:150], vectors[:150], np.ones(150, dtype=bool)),
            taste(liked, disliked),
        ).scores,
        atol=1e-5,
    )


def test_a_paper_linking_to_the_same_github_owner_as_a_liked_one_comes_first(
    october: Database, tmp_path: Path
) -> None:
    # Two papers of the October lists link to github.com/showlab: Code2Video (2510.01174) and
    # Paper2Video (2510.05096); no other pair of them shares a link owner (rank/links.py).
    code2video, paper2video = "2510.01174", "2510.05096"
    reader = _user(october, "lin")
    diffusion = [p for p in _papers_about(october, "diffusion") if p != paper2video][:3]
    with october.transaction() as session:
        for paper_id in diffusion:
            votes.upvote(session, reader, paper_id)
    recommender = _recommender(october, tmp_path)
    before = _ids(october, reader, recommender, 200)
    assert before.index(paper2video) > 10
    with october.transaction() as session:
        votes.upvote(session, reader, code2video)
    with october.sessions() as session:
        page = recommender.recommend(session, reader.id, FIRST, LAST, page_size=5)
        title = " ".join(load_papers(session, [code2video])[code2video].title.split())
    first = page.items[0]
    assert first.paper.arxiv_id == paper2video
    assert first.reason == f"links to github.com/showlab, as «{title}» does"
    assert all(item.reason.startswith("like «") for item in page.items[1:])
