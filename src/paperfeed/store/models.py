"""SQLAlchemy ORM models: the tables paperfeed keeps, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from paperfeed.domain import NAME_KEY_MAX, ORGANIZATION_NAME_MAX

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
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    announced_on: Mapped[date | None] = mapped_column(Date, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    comments: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(Text)
    license: Mapped[str | None] = mapped_column(Text)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    upvotes_base: Mapped[int] = mapped_column(Integer, default=0)
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
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
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
    updated_at: Mapped[datetime] = mapped_column(DateTime)


# --- accounts, upvotes, comments, submissions (migration 0002) ---


# --- collections (migration 0003) ---


# --- search: embeddings and index state (migration 0004) ---


# --- digests: subscriptions and outbox (migration 0005) ---
# --- search: index state (migration 0006) ---
