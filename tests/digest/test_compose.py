"""What a digest holds: trending, interests, "for you"; no paper twice or again; empty periods."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from digest.conftest import FAST_RETRY, add_active
from paperfeed.community import accounts
from paperfeed.digest import compose, outbox, service, subscriptions
from paperfeed.digest.subscriptions import Interests
from paperfeed.rank import trending
from paperfeed.rank.recommend import Recommender
from paperfeed.search.embedding import dense_model
from paperfeed.store.models import OutboxRow, UpvoteRow

DAY = date(2025, 6, 10)


def _ids(message) -> list[str]:
    return re.findall(r"arXiv:(\d{4}\.\d{5})", message.get_body(("plain",)).get_content())


def test_sections_follow_trending_and_interests_without_repeats(digest_db) -> None:
    with digest_db.sessions() as session:
        papers = compose.load_period(session, "daily", DAY)
    assert papers.key == "daily:2025-06-10" and len(papers.top) == len(papers.pool) > 20
    at = datetime(2025, 6, 11)
    scores = [
        trending.score(p.upvotes, (at - datetime(2025, 6, 10)).total_seconds() / 3600)
        for p in papers.top
    ]
    assert papers.top[0].upvotes == max(p.upvotes for p in papers.top)
    assert len(scores) == len(papers.top)

    content = papers.select(Interests(keywords="diffusion", organizations="no-such-org"))
    top, interests = content.sections
    assert [p.arxiv_id for p in top.papers] == [p.arxiv_id for p in papers.top[:5]]
    assert interests.kind == "interests" and interests.papers
    for paper in interests.papers:
        text = f"{paper.title} {paper.abstract} {' '.join(paper.ai_keywords or [])}".lower()
        assert re.search(r"\bdiffusion\b", text), paper.title
    assert len(content.paper_ids) == len(set(content.paper_ids))
    # Whole words only: "rl" must not match "world".
    words = papers.select(Interests(keywords="RL")).sections[1:]
    for paper in words[0].papers if words else []:
        text = f"{paper.title} {paper.abstract} {' '.join(paper.ai_keywords or [])}".lower()
        assert re.search(r"\brl\b", text)

    by_category = papers.select(Interests(categories="cs.CL"))
    if len(by_category.sections) > 1:
        assert all("cs.CL" in p.categories for p in by_category.sections[1].papers)
    assert papers.select(Interests(categories="cs")).paper_ids  # an archive matches cs.*

    # Papers already sent to this reader are left out; nothing left means an empty digest.
    sent = set(content.paper_ids)
    again = papers.select(Interests(keywords="diffusion"), already_sent=sent)
    assert not sent & set(again.paper_ids)
    everything = {p.arxiv_id for p in papers.pool}
    assert papers.select(Interests(), already_sent=everything).empty


def test_for_you_comes_from_what_the_reader_upvoted(digest_db, digest_settings) -> None:
    with digest_db.transaction() as session:
        user = accounts.create_user(session, "reader", "voter@example.org", "password123")
        papers = compose.load_period(session, "weekly", DAY)
        liked = [p for p in papers.pool if "video" in p.title.lower()][:3]
        assert liked, "the week has video papers"
        for paper in liked:
            session.add(
                UpvoteRow(
                    user_id=user.id,
                    paper_id=paper.arxiv_id,
                    created_at=datetime.now(UTC).replace(tzinfo=None),
                )
            )
        session.flush()
        recommender = Recommender(digest_settings)
        picks = compose.for_you_picks(session, recommender, papers, [user.id])
    content = papers.select(Interests(), for_you=picks[user.id])
    for_you = [s for s in content.sections if s.kind == "for_you"]
    assert for_you and for_you[0].title == "For you, from what you upvoted, saved and follow"
    chosen = for_you[0].papers
    assert chosen and not {p.arxiv_id for p in chosen} & {p.arxiv_id for p in liked}
    about_video = [p for p in chosen if "video" in f"{p.title} {p.abstract}".lower()]
    assert len(about_video) >= len(chosen) - 1
    assert len(content.paper_ids) == len(set(content.paper_ids))
    # Each pick says why: the upvoted paper it is most like.
    reasons = for_you[0].reasons
    assert set(reasons) == {p.arxiv_id for p in chosen}
    assert all(r.startswith("like «") for r in reasons.values()), reasons
    assert any(r[len("like «") :][:20] in p.title for r in reasons.values() for p in liked)


def test_the_for_you_reason_is_in_the_mail(digest_db, digest_settings, mail_server) -> None:
    handler, _ = mail_server
    with digest_db.transaction() as session:
        user = accounts.create_user(session, "mailed", "mailed@example.org", "password123")
        papers = compose.load_period(session, "weekly", DAY)
        for paper in [p for p in papers.pool if "video" in p.title.lower()][:3]:
            session.add(
                UpvoteRow(
                    user_id=user.id,
                    paper_id=paper.arxiv_id,
                    created_at=datetime.now(UTC).replace(tzinfo=None),
                )
            )
        user_id = user.id
    add_active(digest_db, "mailed@example.org", "weekly", user_id=user_id)
    service.send_digests(digest_db, digest_settings, "weekly", DAY, retry=FAST_RETRY)
    [mail] = handler.to("mailed@example.org")
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    section = plain.split("== For you, from what you upvoted, saved and follow ==")[1]
    assert "  Why: like «" in section
    assert html.count('class="reason"') == section.count("  Why: ") >= 1


def test_no_paper_twice_across_digests_and_the_empty_period_rule(
    digest_db, digest_settings, mail_server
) -> None:
    handler, _ = mail_server
    add_active(digest_db, "daily@example.org", keywords="video")
    composed, sent = service.send_digests(
        digest_db, digest_settings, "daily", DAY, retry=FAST_RETRY
    )
    assert (composed.composed, sent.sent) == (1, 1)
    first = set(_ids(handler.to("daily@example.org")[0]))

    # The same reader switches to weekly: the week's digest leaves out what the daily one sent.
    with digest_db.transaction() as session:
        row = subscriptions.by_email(session, "daily@example.org")
        subscriptions.update(session, row, "weekly", Interests(keywords="video"))
    service.send_digests(digest_db, digest_settings, "weekly", DAY, retry=FAST_RETRY)
    weekly = handler.to("daily@example.org")[1]
    assert "Week 24, 2025" in weekly["Subject"]
    assert first and not first & set(_ids(weekly))
    assert len(_ids(weekly)) == len(set(_ids(weekly)))

    # Saturday 14 June has no list: no mail, no outbox row, and the command says why.
    received = len(handler.received)
    add_active(digest_db, "weekend@example.org")
    composed, sent = service.send_digests(
        digest_db, digest_settings, "daily", date(2025, 6, 14), retry=FAST_RETRY
    )
    assert composed.papers == 0 and composed.composed == 0 and sent.sent == 0
    assert len(handler.received) == received
    with digest_db.sessions() as session:
        assert outbox.counts(session, "daily:2025-06-14") == {}

    # A reader for whom every paper of the period went out already gets no mail: 'skipped'.
    with digest_db.transaction() as session:
        row = subscriptions.by_email(session, "weekend@example.org")
        papers = compose.load_period(session, "daily", date(2025, 6, 11))
        outbox.add(
            session,
            subscription_id=row.id,
            key="daily:earlier",
            kind="digest",
            recipient=row.email,
            status="sent",
            paper_ids=[p.arxiv_id for p in papers.pool],
        )
    service.send_digests(digest_db, digest_settings, "daily", date(2025, 6, 11), retry=FAST_RETRY)
    assert handler.to("weekend@example.org") == []
    with digest_db.sessions() as session:
        skipped = (
            session.query(OutboxRow)
            .filter_by(recipient="weekend@example.org", key="daily:2025-06-11")
            .one()
        )
        assert skipped.status == "skipped" and "earlier digest" in skipped.note


def test_preview_renders_without_sending(digest_db, digest_settings, mail_server) -> None:
    handler, _ = mail_server
    add_active(digest_db, "preview@example.org", keywords="agents")
    with digest_db.sessions() as session:
        row = subscriptions.by_email(session, "preview@example.org")
        shown = service.preview(session, digest_settings, row, day=DAY)
        fallback = service.preview(session, digest_settings, row)  # today has no papers
    assert "Tuesday, 10 June 2025" in shown.subject and "== Trending today ==" in shown.text
    assert "<html" in shown.html and shown.note is None
    assert fallback.note and "showing Thursday, 19 June 2025 instead" in fallback.note
    assert handler.received == []
    with digest_db.sessions() as session:
        assert outbox.counts(session) == {}


def test_composing_in_two_processes_stores_the_same_digests_once(digest_db, digest_settings):
    count = service.COMPOSE_BATCH + 100  # two batches, one per process
    with digest_db.transaction() as session:
        for n in range(count):
            row = subscriptions.request(
                session, f"many{n}@example.org", "daily", Interests(keywords=["video"] * (n % 2))
            )
            subscriptions.confirm(session, row)
    report = service.compose_due(digest_db, digest_settings, "daily", DAY, workers=2)
    assert (report.composed, report.nothing_new, report.already) == (count, 0, 0)
    again = service.compose_due(digest_db, digest_settings, "daily", DAY, workers=2)
    assert (again.composed, again.already) == (0, count)
    with digest_db.sessions() as session:
        rows = session.query(OutboxRow).all()
        with_interest = subscriptions.by_email(session, "many1@example.org").id
    assert len(rows) == count and {row.status for row in rows} == {"pending"}
    assert len({row.message_id for row in rows}) == count
    serial = {row.subscription_id: row.paper_ids for row in rows}
    with digest_db.sessions() as session:
        papers = compose.load_period(session, "daily", DAY)
    assert serial[with_interest] == papers.select(Interests(keywords=["video"])).paper_ids


def test_hostile_text_is_escaped_in_the_html_part_and_plain_in_the_text(digest_settings):
    from paperfeed.domain import Author, Organization, Paper
    from paperfeed.store.models import SubscriptionRow

    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    paper = Paper(
        arxiv_id="2506.99999",
        title=f"{hostile} A title",
        abstract=f"{hostile}. Second one.",
        authors=[Author(name=hostile)],
        categories=["cs.CL"],
        upvotes=3,
        organization=Organization(name="evil", fullname=hostile),
    )
    papers = compose.PeriodPapers("daily", compose.period_of("daily", DAY), [paper], [paper])
    row = SubscriptionRow(id=7, email="reader@example.org", frequency="daily")
    mail = service.renderer(digest_settings).digest(row, papers.select(Interests()))
    assert "<script>" not in mail.html and "<img" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert hostile in mail.text  # the text part is plain text: shown, never run


def test_organization_and_category_interests_match_by_name_and_archive() -> None:
    from paperfeed.domain import Organization, Paper

    def paper(arxiv_id: str, upvotes: int, **fields) -> Paper:
        return Paper(arxiv_id=arxiv_id, title=f"Paper {arxiv_id}", upvotes=upvotes, **fields)

    qwen = paper(
        "2510.00001",
        50,
        organization=Organization(name="Qwen", fullname="Qwen Team"),
        categories=["cs.CL"],
    )
    vision = paper("2510.00002", 40, categories=["cs.CV", "eess.IV"])
    physics = paper("2510.00003", 30, categories=["hep-th"])
    pool = [qwen, vision, physics]
    papers = compose.PeriodPapers("daily", compose.period_of("daily", DAY), [], pool)

    def matched(**interests) -> list[str]:
        return papers.select(Interests(**interests)).paper_ids

    assert matched(organizations="qwen team") == ["2510.00001"]  # full name, any case
    assert matched(organizations="QWEN") == ["2510.00001"]
    assert matched(categories="eess") == ["2510.00002"]  # an archive matches its categories
    assert matched(categories="cs") == ["2510.00001", "2510.00002"]  # in trending order
    assert matched(categories="hep-th, cs.CV") == ["2510.00002", "2510.00003"]
    assert matched(keywords="paper 2510.00003") == ["2510.00003"]
    assert matched() == []


def test_for_you_uses_the_stored_embeddings_where_search_made_them(digest_db, digest_settings):
    import numpy as np

    from paperfeed.search.vectors import store as vectors_store

    model = dense_model(digest_settings)
    assert model is not None
    with digest_db.transaction() as session:
        user = accounts.create_user(session, "semantic", "semantic@example.org", "password123")
        liked = compose.load_period(session, "daily", date(2025, 6, 9)).pool[0]
        today = compose.load_period(session, "daily", DAY).pool
        close, far = today[-1], today[-2]  # the least trending: chosen for their vectors alone
        axis = np.eye(8, dtype=np.float32)
        vectors_store.save_embeddings(
            session,
            model,
            [
                (liked.arxiv_id, "-", axis[0]),
                (close.arxiv_id, "-", (0.9 * axis[0] + 0.3 * axis[1]) / np.linalg.norm([0.9, 0.3])),
                (far.arxiv_id, "-", axis[2]),
            ]
            + [(p.arxiv_id, "-", axis[3 + i % 5]) for i, p in enumerate(today[:-2])],
        )
        session.add(
            UpvoteRow(
                user_id=user.id,
                paper_id=liked.arxiv_id,
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
        session.flush()
        papers = compose.load_period(session, "daily", DAY, vector_model=model)
        recommender = Recommender(digest_settings)
        pool = papers.recommend_pool(session, recommender)
        picks = compose.for_you_picks(session, recommender, papers, [user.id])[user.id]
    assert papers.vectors is not None and pool.model == model
    ranked = [p.arxiv_id for p in picks]
    assert close.arxiv_id in ranked and far.arxiv_id not in ranked
