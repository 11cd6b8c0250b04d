"""A digest's "top" follows the site's trending gravity (PAPERFEED_TRENDING_GRAVITY)."""

from __future__ import annotations

from datetime import date

from paperfeed.digest import compose, service
from paperfeed.store.models import SubscriptionRow

WEEK_DAY = date(2025, 6, 10)  # week 24: five daily lists, so age matters to the ranking


def test_the_digest_ranks_with_the_configured_gravity(digest_db, digest_settings) -> None:
    reader = SubscriptionRow(id=0, email="g@example.org", frequency="weekly")
    with digest_db.sessions() as session:
        steep = compose.load_period(session, "weekly", WEEK_DAY, gravity=5.0).top
        flat = compose.load_period(session, "weekly", WEEK_DAY, gravity=0.01).top
        assert steep[:10] != flat[:10]  # the data tells the two apart
        for gravity, expected in ((5.0, steep), (0.01, flat)):
            settings = digest_settings.model_copy(update={"trending_gravity": gravity})
            shown = service.preview(session, settings, reader, "weekly", WEEK_DAY)
            top = next(s for s in shown.content.sections if s.kind == "top")
            assert [p.arxiv_id for p in top.papers] == [p.arxiv_id for p in expected[:10]]
