"""SQLAlchemy ORM models: the tables paperfeed keeps, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from paperfeed.domain import EMAIL_MAX, NAME_KEY_MAX, ORGANIZATION_NAME_MAX
from paperfeed.store.types import UTCDateTime

# Stable constraint names so Alembic migrations are the same on every database.
# Text is unbounded on both databases; only unique keys have a length, which the domain enforces.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrganizationRow(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(ORGANIZATION_NAME_MAX), unique=True)
    fullname: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(Text)


class AuthorRow(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_MAX), unique=True)


class PaperRow(Base):
    __tablename__ = "papers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[str] = mapped_column(Text, default="")  # space-separated, primary first
    primary_category: Mapped[str | None] = mapped_column(Text, index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    announced_on: Mapped[date | None] = mapped_column(Date, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comments: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(Text)
    license: Mapped[str | None] = mapped_column(Text)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    upvotes_base: Mapped[int] = mapped_column(Integer, default=0)
    # Local community counters, kept by paperfeed.community in the vote's/comment's transaction.
    upvotes_local: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    comments_local: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    github_repo: Mapped[str | None] = mapped_column(Text)
    github_stars: Mapped[int | None] = mapped_column(Integer)
    project_page: Mapped[str | None] = mapped_column(Text)
    ai_summary: Mapped[str | None] = mapped_column(Text)
    ai_keywords: Mapped[list[str] | None] = mapped_column(JSON)
    discussion_id: Mapped[str | None] = mapped_column(Text)
    metadata_source: Mapped[str] = mapped_column(String(8), default="arxiv")
    # The daily listing the Hugging Face fields were read from: older captures never overwrite.
    listed_on: Mapped[date | None] = mapped_column(Date)

    organization: Mapped[OrganizationRow | None] = relationship(lazy="joined")
    author_links: Mapped[list[PaperAuthorRow]] = relationship(
        order_by="PaperAuthorRow.position", cascade="all, delete-orphan", lazy="selectin"
    )


class PaperAuthorRow(Base):
    __tablename__ = "paper_authors"

    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    name: Mapped[str] = mapped_column(Text)  # as this paper spells it
    hf_user: Mapped[str | None] = mapped_column(Text)

    author: Mapped[AuthorRow] = relationship(lazy="joined")


class DailyEntryRow(Base):
    __tablename__ = "daily_entries"
    __table_args__ = (
        UniqueConstraint("day", "paper_id"),
        Index("ix_daily_entries_paper_id", "paper_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)  # indexed by the unique (day, paper_id)
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    submitted_by: Mapped[str | None] = mapped_column(Text)
    submitted_by_fullname: Mapped[str | None] = mapped_column(Text)
    submitted_by_avatar: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    num_comments: Mapped[int] = mapped_column(Integer, default=0)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    is_author_participating: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(8), default="hf")

    paper: Mapped[PaperRow] = relationship(lazy="joined")


class CheckpointRow(Base):
    """Where a resumable job got to; written in the same transaction as the work it records."""

    __tablename__ = "checkpoints"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    state: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- accounts, upvotes, comments, submissions (migration 0002; rate limits 0007) ---


USERNAME_MAX = 40


class UserRow(Base):
    """A local account; the first one registered is an admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    email: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Usernames are unique whatever their case, also for two registrations at the same moment.
Index("ux_users_username_lower", func.lower(UserRow.username), unique=True)


class ApiTokenRow(Base):
    """A personal API token; only its SHA-256 is stored (tokens are 256-bit random)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginSessionRow(Base):
    """A log-in: the browser's cookie holds the secret, only its SHA-256 is kept (migration 0007).

    Logging out deletes the row, so a copied cookie stops working; a password change deletes
    every row of the account.
    """

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class UpvoteRow(Base):
    """One user's upvote of one paper; the primary key makes a second one impossible."""

    __tablename__ = "upvotes"
    __table_args__ = (Index("ix_upvotes_paper_id", "paper_id"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CommentRow(Base):
    """A comment on a paper page; hidden ones are kept but shown to nobody but admins."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_paper_id", "paper_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)  # the body rendered when written (migration 0007)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)


class SubmissionRow(Base):
    """A paper a local user put on a day's list (the daily entry says 'submitted by')."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("day", "paper_id"),
        Index("ix_submissions_user_id_day", "user_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateLimitRow(Base):
    """Hits of one rate limit's window (community/limits.py): action|key|window number."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# --- collections (migration 0003) ---


COLLECTION_NAME_MAX = 100


class CollectionRow(Base):
    """A user's named list of saved papers; a private one is seen by its owner only."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("user_id", "name"),)  # also the index of a user's lists

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(COLLECTION_NAME_MAX))
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CollectionPaperRow(Base):
    """A paper saved in a collection, and when it was saved there."""

    __tablename__ = "collection_papers"
    __table_args__ = (Index("ix_collection_papers_paper_id", "paper_id"),)

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- search: embeddings and index state (migration 0004) ---


EMBEDDING_MODEL_MAX = 100


class PaperEmbeddingRow(Base):
    """A paper's vector under one embedding model, with the hash of the text it was made from.

    The key starts with the model so one model's vectors are one index range, read in id order.
    """

    __tablename__ = "paper_embeddings"
    __table_args__ = (
        Index("ix_paper_embeddings_paper_id", "paper_id"),
        Index("ix_paper_embeddings_model_created_at", "model", "created_at"),
    )

    model: Mapped[str] = mapped_column(String(EMBEDDING_MODEL_MAX), primary_key=True)
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    text_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the embedded text
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, dim values
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- digests: subscriptions and outbox (migration 0005) ---


class SubscriptionRow(Base):
    """An address that asked for digests: what it wants, and whether it confirmed, left, bounced."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)  # lower-cased
    frequency: Mapped[str] = mapped_column(String(8))  # daily | weekly
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    organizations: Mapped[list[str]] = mapped_column(JSON, default=list)
    # pending (not confirmed) | active | unsubscribed | bounced; only active ones get digests
    status: Mapped[str] = mapped_column(String(12), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # unsubscribed or bounced
    bounce_reason: Mapped[str | None] = mapped_column(Text)
    confirmations_sent: Mapped[int] = mapped_column(Integer, default=0)


class OutboxRow(Base):
    """One mail to one subscriber, composed before it is sent; (subscription, key) is unique.

    The key is the idempotency key: a digest's period ('daily:2025-06-10', 'weekly:2025-W24') or
    'confirm:N' for the Nth confirmation mail. The rendered message is stored with its Message-ID,
    so a restarted sender sends exactly the bytes it composed.
    """

    __tablename__ = "digest_outbox"
    __table_args__ = (
        UniqueConstraint("subscription_id", "key"),
        Index("ix_digest_outbox_status_id", "status", "id"),
        Index("ix_digest_outbox_key", "key"),  # which subscribers a period was composed for
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(8))  # digest | confirm
    # pending | sending (claimed) | sent | skipped (nothing to say) | failed (bounced or left)
    status: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(EMAIL_MAX))
    message_id: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)  # the whole RFC 5322 message, 7-bit, CRLF lines
    paper_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)  # why skipped or failed, the last SMTP error
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(Text)  # host:pid of the sender holding it
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

# --- search: index state (migration 0006) ---


class SearchChangeRow(Base):
    """A change to a paper that the search indexes have not caught up with yet (an outbox).

    store/writer.py adds a row in the same transaction as the change; the indexer deletes exactly
    the rows it read before reading the papers, so a crash leaves work to redo, never a change lost.
    """

    __tablename__ = "search_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[str] = mapped_column(String(40))



# --- the recommender's signals: "not interested", follows, reader state (migration 0007) ---


FOLLOW_KEY_MAX = 500
FOLLOW_KINDS = ("author", "organization", "category", "search")


class DismissalRow(Base):
    """A paper one user marked "not interested": left out of their recommendations, and its
    near neighbours lowered. Deleting the row undoes it."""

    __tablename__ = "dismissals"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FollowRow(Base):
    """Something a user follows: an author, an organization, an arXiv category or a saved
    keyword search. `key` is the normalized form two spellings share; `label` as typed."""

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("user_id", "kind", "key"),)  # also a user's index

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # one of FOLLOW_KINDS
    key: Mapped[str] = mapped_column(String(FOLLOW_KEY_MAX))
    label: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReaderStateRow(Base):
    """What the recommender keeps about one reader beside their signals: since when it listens
    (upvotes and saves before `cleared_at` are forgotten) and the private feed's token (only its
    SHA-256; a new one replaces it, deleting it revokes the feed)."""

    __tablename__ = "reader_state"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    feed_token_prefix: Mapped[str | None] = mapped_column(String(16))
    feed_token_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
