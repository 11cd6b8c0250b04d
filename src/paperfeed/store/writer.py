"""Idempotent bulk writes of papers, authors, organizations and daily listings.

Writing the same records twice changes nothing; records from several sources merge by rule:
arXiv (OAI, bulk snapshot) is authoritative for bibliographic fields, Hugging Face for its own
(organization, upvotes, links, AI summary). Counts that only grow (upvotes, comments) keep the
largest value seen, so re-importing an older capture never lowers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import RowMapping, delete, select, tuple_
from sqlalchemy import insert as sql_insert
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.domain import Author, DailyEntry, Paper, normalize_name
from paperfeed.store.dialect import insert
from paperfeed.store.models import (
    AuthorRow,
    CheckpointRow,
    DailyEntryRow,
    OrganizationRow,
    PaperAuthorRow,
    PaperRow,
    SearchChangeRow,
)

# Local vote and comment counters: changed only in a vote's or comment's own transaction, so an
# import running meanwhile must not write back the value it read.
COMMUNITY_COUNTERS = ("upvotes_local", "comments_local")
# Columns arXiv owns; Hugging Face fills them only for papers arXiv has not supplied.
BIBLIOGRAPHIC = (
    "version", "title", "abstract", "categories", "primary_category", "published_at",
    "updated_at", "comments", "journal_ref", "doi", "license",
)  # fmt: skip
HF_OWNED = (
    "github_repo", "github_stars", "project_page", "ai_summary", "ai_keywords", "discussion_id",
)  # fmt: skip
# Keep SQL statements under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500


@dataclass
class WriteStats:
    """What a write did: rows inserted, changed, and left as they were."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: WriteStats) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass
class SaveResult:
    papers: WriteStats = field(default_factory=WriteStats)
    entries: WriteStats = field(default_factory=WriteStats)


def save_papers(session: Session, papers: Iterable[Paper]) -> WriteStats:
    """Insert or merge papers (with their authors and organizations) in the open transaction."""
    by_id: dict[str, Paper] = {}
    for paper in papers:  # a batch may name a paper twice: the later record merges over
        if paper.arxiv_id in by_id:
            paper = _merge_models(by_id[paper.arxiv_id], paper)
        by_id[paper.arxiv_id] = paper
    stats = WriteStats()
    items = list(by_id.values())
    for start in range(0, len(items), _CHUNK):
        stats.add(_save_paper_chunk(session, items[start : start + _CHUNK]))
    return stats


def save_daily_entries(session: Session, entries: Sequence[DailyEntry]) -> SaveResult:
    """Save the entries' papers, then the listings themselves, in the open transaction."""
    result = SaveResult(papers=save_papers(session, (e.paper for e in entries)))
    unique: dict[tuple, DailyEntry] = {}
    for entry in entries:
        unique[(entry.day, entry.paper.arxiv_id)] = entry
    items = list(unique.values())
    for start in range(0, len(items), _CHUNK):
        result.entries.add(_save_entry_chunk(session, items[start : start + _CHUNK]))
    return result


def read_checkpoint(session: Session, key: str) -> dict | None:
    row = session.get(CheckpointRow, key)
    return dict(row.state) if row else None


def write_checkpoint(session: Session, key: str, state: dict) -> None:
    """Record progress in the open transaction, so it commits with the work it describes."""
    values = {"key": key, "state": state, "updated_at": utcnow()}
    statement = insert(session, CheckpointRow.__table__).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["key"], set_={"state": state, "updated_at": values["updated_at"]}
        )
    )


def delete_checkpoint(session: Session, key: str) -> None:
    session.execute(delete(CheckpointRow).where(CheckpointRow.key == key))


def _save_paper_chunk(session: Session, papers: list[Paper]) -> WriteStats:
    ids = [p.arxiv_id for p in papers]
    existing = {
        row["id"]: row
        for row in session.execute(select(PaperRow.__table__).where(PaperRow.id.in_(ids)))
        .mappings()
        .all()
    }
    existing_authors = _authors_of(session, list(existing))
    org_ids = _save_organizations(session, papers)
    stats = WriteStats()
    rows: list[dict[str, Any]] = []
    author_lists: dict[str, list[Author]] = {}
    for paper in papers:
        old = existing.get(paper.arxiv_id)
        row = _merged_row(old, paper, org_ids)
        take_authors = old is None or _owns_bibliography(old, paper)
        authors_changed = take_authors and [
            (a.name, a.hf_user) for a in paper.authors
        ] != existing_authors.get(paper.arxiv_id, [])
        if old is not None and all(old[k] == v for k, v in row.items()) and not authors_changed:
            stats.unchanged += 1
            continue
        if old is None:
            stats.inserted += 1
        else:
            stats.updated += 1
        rows.append(row)
        if authors_changed:
            author_lists[paper.arxiv_id] = paper.authors
    if rows:
        statement = insert(session, PaperRow.__table__)
        columns = [c for c in rows[0] if c != "id"]
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"], set_={c: statement.excluded[c] for c in columns}
            ),
            rows,
        )
    if author_lists:
        _replace_authors(session, author_lists)
    if rows:  # the search indexes' outbox, committed with the change (search/indexer.py reads it)
        session.execute(
            sql_insert(SearchChangeRow), [{"paper_id": row["id"]} for row in rows]
        )
    return stats


def _merged_row(
    old: RowMapping | None, paper: Paper, org_ids: dict[str, int]
) -> dict[str, Any]:
    incoming = {
        "id": paper.arxiv_id,
        "version": paper.version,
        "title": paper.title,
        "abstract": paper.abstract,
        "categories": " ".join(paper.categories),
        "primary_category": paper.primary_category,
        "published_at": paper.published_at,
        "announced_on": paper.announced_on,
        "updated_at": paper.updated_at,
        "comments": paper.comments,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "license": paper.license,
        "organization_id": org_ids.get(paper.organization.name) if paper.organization else None,
        "upvotes_base": paper.upvotes,
        "github_repo": paper.github_repo,
        "github_stars": paper.github_stars,
        "project_page": paper.project_page,
        "ai_summary": paper.ai_summary,
        "ai_keywords": paper.ai_keywords,
        "discussion_id": paper.discussion_id,
        "metadata_source": paper.source,
        "listed_on": paper.listed_on,
    }
    if old is None:
        return incoming
    row = dict(old)
    for key in COMMUNITY_COUNTERS:  # kept by paperfeed.community; imports never write them
        del row[key]
    # The owner's values replace stored ones, others only fill gaps; nobody erases a value.
    owner = _owns_bibliography(old, paper)
    for key in BIBLIOGRAPHIC:
        if incoming[key] not in (None, "") and (owner or row[key] in (None, "")):
            row[key] = incoming[key]
    if owner:
        row["metadata_source"] = paper.source
    if paper.source == "hf" and not _older_capture(old, paper):
        for key in (*HF_OWNED, "organization_id", "listed_on"):
            if incoming[key] is not None:
                row[key] = incoming[key]
    days = [d for d in (old["announced_on"], incoming["announced_on"]) if d is not None]
    row["announced_on"] = min(days) if days else None
    row["upvotes_base"] = max(old["upvotes_base"] or 0, paper.upvotes)
    return row


def _owns_bibliography(old: RowMapping, paper: Paper) -> bool:
    """Whether the incoming record's bibliographic fields replace the stored ones."""
    if paper.source == "hf":
        return old["metadata_source"] == "hf" and not _older_capture(old, paper)
    if old["metadata_source"] == "hf":
        return True
    # Both from arXiv: an older version of the record never replaces a newer one.
    if paper.version and old["version"] and paper.version < old["version"]:
        return False
    new_updated, old_updated = paper.updated_at, old["updated_at"]
    return not (new_updated and old_updated and new_updated < old_updated)


def _older_capture(old: RowMapping, paper: Paper) -> bool:
    """Whether a Hugging Face record comes from an earlier listing than the stored one."""
    return bool(old["listed_on"] and paper.listed_on and paper.listed_on < old["listed_on"])


def _merge_models(first: Paper, second: Paper) -> Paper:
    """Two records of one paper in the same batch, combined as two writes would combine them."""
    # The winner of each field overlays the other: arXiv over Hugging Face, newer over older.
    older, newer = sorted(
        (first, second), key=lambda p: (p.source == "arxiv", p.listed_on or date.min)
    )
    fields = {**older.model_dump(), **newer.model_dump(exclude_none=True, exclude_defaults=True)}
    fields["upvotes"] = max(first.upvotes, second.upvotes)
    days = [p.announced_on for p in (first, second) if p.announced_on]
    fields["announced_on"] = min(days) if days else None
    return Paper.model_validate(fields)


def _authors_of(session: Session, paper_ids: list[str]) -> dict[str, list[tuple]]:
    result: dict[str, list[tuple]] = {pid: [] for pid in paper_ids}
    if not paper_ids:
        return result
    rows = session.execute(
        select(PaperAuthorRow.paper_id, PaperAuthorRow.name, PaperAuthorRow.hf_user)
        .where(PaperAuthorRow.paper_id.in_(paper_ids))
        .order_by(PaperAuthorRow.paper_id, PaperAuthorRow.position)
    )
    for paper_id, name, hf_user in rows:
        result[paper_id].append((name, hf_user))
    return result


def _replace_authors(session: Session, author_lists: dict[str, list[Author]]) -> None:
    names = {normalize_name(a.name): a.name for authors in author_lists.values() for a in authors}
    keys = list(names)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        statement = insert(session, AuthorRow.__table__).on_conflict_do_nothing(
            index_elements=["name_key"]
        )
        session.execute(statement, [{"name": names[k], "name_key": k} for k in chunk])
    ids: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        query = select(AuthorRow.name_key, AuthorRow.id).where(AuthorRow.name_key.in_(chunk))
        ids.update((name_key, author_id) for name_key, author_id in session.execute(query))
    replaced = PaperAuthorRow.paper_id.in_(list(author_lists))
    previous = set(session.scalars(select(PaperAuthorRow.author_id).where(replaced)))
    session.execute(delete(PaperAuthorRow).where(replaced))
    links = [
        {
            "paper_id": paper_id,
            "position": position,
            "author_id": ids[normalize_name(author.name)],
            "name": author.name,
            "hf_user": author.hf_user,
        }
        for paper_id, authors in author_lists.items()
        for position, author in enumerate(authors)
    ]
    if links:
        session.execute(sql_insert(PaperAuthorRow), links)
    orphans = previous - {link["author_id"] for link in links}
    if orphans:  # a spelling no paper uses any more
        still_used = select(PaperAuthorRow.author_id).where(PaperAuthorRow.author_id.in_(orphans))
        session.execute(
            delete(AuthorRow).where(AuthorRow.id.in_(orphans), AuthorRow.id.not_in(still_used))
        )


def _save_organizations(session: Session, papers: list[Paper]) -> dict[str, int]:
    orgs = {p.organization.name: p.organization for p in papers if p.organization}
    if not orgs:
        return {}
    statement = insert(session, OrganizationRow.__table__)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "fullname": statement.excluded.fullname,
                "avatar_url": statement.excluded.avatar_url,
            },
        ),
        [o.model_dump() for o in orgs.values()],
    )
    query = select(OrganizationRow.name, OrganizationRow.id).where(
        OrganizationRow.name.in_(list(orgs))
    )
    return {name: org_id for name, org_id in session.execute(query)}


def _save_entry_chunk(session: Session, entries: list[DailyEntry]) -> WriteStats:
    table = DailyEntryRow.__table__
    keys = [(e.day, e.paper.arxiv_id) for e in entries]
    existing = {
        (row["day"], row["paper_id"]): row
        for row in session.execute(
            select(table).where(tuple_(table.c.day, table.c.paper_id).in_(keys))
        )
        .mappings()
        .all()
    }
    stats = WriteStats()
    rows = []
    for entry in entries:
        row = {
            "day": entry.day,
            "paper_id": entry.paper.arxiv_id,
            "submitted_by": entry.submitted_by.username if entry.submitted_by else None,
            "submitted_by_fullname": entry.submitted_by.fullname if entry.submitted_by else None,
            "submitted_by_avatar": entry.submitted_by.avatar_url if entry.submitted_by else None,
            "submitted_at": entry.submitted_at,
            "num_comments": entry.num_comments,
            "thumbnail": entry.thumbnail,
            "is_author_participating": entry.is_author_participating,
            "source": entry.paper.source,
        }
        old = existing.get((entry.day, entry.paper.arxiv_id))
        if old is not None:
            for key, value in row.items():  # never erase what an earlier capture knew
                if value is None:
                    row[key] = old[key]
            row["num_comments"] = max(old["num_comments"], entry.num_comments)
            if all(old[k] == v for k, v in row.items()):
                stats.unchanged += 1
                continue
            stats.updated += 1
        else:
            stats.inserted += 1
        rows.append(row)
    if rows:
        statement = insert(session, table)
        columns = [c for c in rows[0] if c not in ("day", "paper_id")]
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["day", "paper_id"],
                set_={c: statement.excluded[c] for c in columns},
            ),
            rows,
        )
    return stats

