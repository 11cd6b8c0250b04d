"""Two senders in one process (the schedule thread and a web request) never share a claim."""

from __future__ import annotations

from sqlalchemy import event, update

from paperfeed.core.clock import utcnow
from paperfeed.digest import outbox, service
from paperfeed.digest.subscriptions import Interests
from paperfeed.store.models import OutboxRow


def test_a_mail_claimed_by_another_sender_of_this_process_is_not_taken_too(
    digest_db, digest_settings
) -> None:
    with digest_db.transaction() as session:
        service.request_subscription(
            session, digest_settings, "once@example.org", "daily", Interests()
        )
    first, second = outbox.owner_id(), outbox.owner_id()
    assert first != second

    with digest_db.transaction() as session:
        raced = []

        # The other sender claims the mail between this claim's SELECT and its UPDATE.
        @event.listens_for(session, "do_orm_execute")
        def other_sender_first(state) -> None:
            if state.is_update and not raced:
                raced.append(True)
                state.session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.status == "pending")
                    .values(status="sending", claimed_by=second, claimed_at=utcnow())
                    .execution_options(synchronize_session=False)
                )

        claimed = outbox.claim(session, first)
    assert raced and claimed == []

    with digest_db.transaction() as session:
        assert outbox.release_abandoned(session) == 0  # its owner runs: the claim stands
        assert outbox.counts(session) == {"sending": 1}
