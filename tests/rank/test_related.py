"""The liked papers' authors' other papers: their choice, their place in the taste and the score."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import select
from support.accounts import make_user
from support.search_corpus import import_october

from paperfeed.community import votes
from paperfeed.rank import content, recommend, related
from paperfeed.rank.recommend import Recommender
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import DailyEntryRow, PaperAuthorRow, PaperRow


def test_each_liked_paper_gives_its_authors_other_papers_a_share() -> None:
    papers = {"ann": ["a1", "a2", "liked"], "bob": ["a2", "liked"], "cy": ["liked"]}
    given = related.contributions({"ann", "bob", "cy"}, papers.__getitem__, "liked")
    assert given == {"a1": 1 / 3, "a2": 2 / 3}  # two of its three authors wrote a2
    crowd = {f"author {i}" for i in range(related.MAX_AUTHORS + 1)}
    assert related.contributions(crowd, lambda _author: ["x"], "liked") == {}


def test_the_largest_sums_are_chosen_outside_the_excluded_ties_to_the_newer_id() -> None:
    given = [{"2501.1": 0.5, "2502.1": 0.5, "pool": 1.0}, {"2501.1": 0.25, "2409.9": 0.5}]
    assert related.choose(given, {"pool"}, limit=3) == ["2501.1", "2502.1", "2409.9"]
    assert related.choose(given, {"pool"}, limit=1) == ["2501.1"]
    assert related.choose([], set()) == []


def test_the_taste_holds_the_liked_papers_authors_papers_outside_the_period(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'rel.db'}")
    import_october(db)
    with db.sessions() as session:
        day_of = dict(session.execute(select(DailyEntryRow.paper_id, DailyEntryRow.day)).all())
        papers_of: dict[int, set[str]] = defaultdict(set)
        for author, paper in session.execute(
            select(PaperAuthorRow.author_id, PaperAuthorRow.paper_id)
        ):
            papers_of[author].add(paper)
    # a paper of the first day whose author has another paper on a later day
    liked, other = next(
        (a, b)
        for found in papers_of.values()
        for a in sorted(found)
        for b in sorted(found)
        if day_of.get(a) == date(2025, 10, 1) and day_of.get(b, date.min) > date(2025, 10, 1)
    )
    reader = make_user(db, "rel")
    with db.transaction() as session:
        votes.upvote(session, reader, liked)
    recommender = Recommender(Settings(home=tmp_path / "home", database_url=db.url))
    first = last = day_of[other]  # the other paper is a candidate here: not a weak positive
    with db.sessions() as session:
        profile = recommend.load_profile(session, reader.id)
        pool = recommender.pool(session, first, last)
        taste, _titles = recommender.taste(session, profile, pool)
        assert other in pool.ids and other not in (taste.related or [])
        # on the first day alone it is outside the period, and counts
        early = recommender.pool(session, date(2025, 10, 1), date(2025, 10, 1))
        taste, _titles = recommender.taste(session, profile, early)
    assert taste.related is not None and other in taste.related
    assert liked not in taste.related and not set(taste.related) & set(early.ids)
    assert taste.related_words is not None
    assert taste.related_words.shape[0] == len(taste.related)
    db.close()


def test_a_related_paper_lifts_the_candidates_nearest_it(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'near.db'}")
    import_october(db)
    with db.sessions() as session:
        rows = session.execute(select(PaperRow.id, PaperRow.title, PaperRow.abstract)).all()
    db.close()
    texts = [content.paper_words(r.title, r.abstract or "") for r in rows]
    words = content.WordSpace.fit(texts).transform(texts)
    ids = [r.id for r in rows]
    candidates = content.Candidates(ids[:150], words[:150])
    liked, around = [160, 161], [170]
    taste = content.Taste([ids[i] for i in liked], words[liked], np.ones(len(liked)))
    alone = content.score(candidates, taste).scores
    taste.related, taste.related_words = [ids[i] for i in around], words[around]
    lifted = content.score(candidates, taste).scores
    nearest = int(np.argmax((words[:150] @ words[170].T).toarray().ravel()))
    assert int(np.argmax(lifted - alone)) == nearest
    assert np.isclose(np.std(lifted - alone), content.RELATED_WEIGHT, rtol=1e-3)
