"""Fast bulk import of the arXiv snapshot into PostgreSQL: COPY into staging tables, then merge.

Records are parsed and checked as `arxiv_jsonl` does (the same `parse_record`); each batch
goes by COPY into temporary staging tables and is merged with one INSERT ... ON CONFLICT per
table, in the batch's transaction with the file's checkpoint, so a killed import resumes.
The merge follows store/writer.py's rules for arXiv records: arXiv owns the bibliographic
fields (an older version never replaces a newer one; an empty value never erases one), the
earliest announce day is kept, changed papers go to the search outbox, and a changed paper's
author list is replaced. Unlike store/writer.py, a record whose only change is its author list
leaves the stored list as it was. Parsing (pydantic records) is most of the cost.
"""

from __future__ import annotations

import json
from pathlib import Path

from paperfeed.core.progress import NoProgress, ProgressSink
from paperfeed.domain import Paper, normalize_name
from paperfeed.ingest.arxiv_jsonl import MalformedRecord, _fingerprint, _lines, parse_record
from paperfeed.ingest.report import IngestReport
from paperfeed.store.db import Database
from paperfeed.store.writer import read_checkpoint, write_checkpoint

BATCH_SIZE = 50_000  # records per COPY and transaction

_TEXT = ("title", "abstract", "categories", "comments", "journal_ref", "doi", "license")
_COLUMNS = ("id", "version", *_TEXT, "primary_category", "published_at", "updated_at",
            "announced_on")  # fmt: skip
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS pf_stage_papers (
    id text, version integer, title text, abstract text, categories text, comments text,
    journal_ref text, doi text, license text, primary_category text,
    published_at timestamp, updated_at timestamp, announced_on date
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS pf_stage_authors (
    paper_id text, position integer, name text, name_key text
) ON COMMIT DELETE ROWS;
"""


def _owner(old: str = "p", new: str = "excluded") -> str:
    """SQL: the incoming arXiv record owns the bibliography (store/writer._owns_bibliography)."""
    return (
        f"({old}.metadata_source = 'hf' OR NOT ("
        f"({new}.version IS NOT NULL AND {old}.version IS NOT NULL AND {new}.version < "
        f"{old}.version) OR ({new}.updated_at IS NOT NULL AND {old}.updated_at IS NOT NULL "
        f"AND {new}.updated_at < {old}.updated_at)))"
    )


def _merge_sql() -> str:
    owner = _owner()
    merged: dict[str, str] = {}  # column: its value after the merge
    for column in ("version", *_TEXT, "primary_category", "published_at", "updated_at"):
        incoming = f"NULLIF(excluded.{column}, '')" if column in _TEXT else f"excluded.{column}"
        stored = f"NULLIF(p.{column}, '')" if column in _TEXT else f"p.{column}"
        merged[column] = (
            f"CASE WHEN {owner} THEN COALESCE({incoming}, p.{column}) "
            f"ELSE COALESCE({stored}, {incoming}, p.{column}) END"
        )
    merged["metadata_source"] = f"CASE WHEN {owner} THEN 'arxiv' ELSE p.metadata_source END"
    merged["announced_on"] = "LEAST(p.announced_on, excluded.announced_on)"
    columns = ", ".join(_COLUMNS)
    return f"""
WITH merged AS (
    INSERT INTO papers AS p ({columns}, metadata_source, upvotes_base, upvotes_local,
                              comments_local)
    SELECT DISTINCT ON (id) {columns}, 'arxiv', 0, 0, 0 FROM pf_stage_papers ORDER BY id
    ON CONFLICT (id) DO UPDATE SET {", ".join(f"{c} = {v}" for c, v in merged.items())}
    WHERE ({", ".join(f"p.{c}" for c in merged)}) IS DISTINCT FROM ({", ".join(merged.values())})
    RETURNING p.id, (xmax = 0) AS inserted
), outbox AS (
    INSERT INTO search_changes (paper_id) SELECT id FROM merged
)
SELECT id, inserted FROM merged
"""


_AUTHORS_SQL = (
    "INSERT INTO authors (name, name_key) SELECT DISTINCT ON (name_key) name, name_key "
    "FROM pf_stage_authors ORDER BY name_key ON CONFLICT (name_key) DO NOTHING",
    "DELETE FROM paper_authors WHERE paper_id = ANY(%(changed)s)",
    "INSERT INTO paper_authors (paper_id, position, author_id, name) "
    "SELECT s.paper_id, s.position, a.id, s.name FROM pf_stage_authors s "
    "JOIN authors a ON a.name_key = s.name_key WHERE s.paper_id = ANY(%(changed)s) "
    "ON CONFLICT DO NOTHING",
)


def import_file(
    db: Database,
    path: Path,
    *,
    progress: ProgressSink | None = None,
    restart: bool = False,
    batch_size: int = BATCH_SIZE,
) -> IngestReport:
    """Import a snapshot file into PostgreSQL by COPY and merge; resumable like arxiv_jsonl."""
    if db.engine.dialect.name != "postgresql":
        raise ValueError("the COPY import needs PostgreSQL; use arxiv_jsonl.import_file")
    progress = progress or NoProgress()
    report = IngestReport()
    if not path.is_file():
        report.reject(str(path), "no such file")
        return report
    key = f"arxiv-jsonl:{_fingerprint(path)}"  # the same checkpoint as the plain importer
    with db.transaction() as session:
        state = None if restart else read_checkpoint(session, key)
    if state and state.get("done"):
        report.skipped_sources.append(str(path))
        return report
    skip = state["lines"] if state else 0
    progress.start(f"arxiv-jsonl (COPY) {path.name}", path.stat().st_size)
    with path.open("rb") as raw:
        batch: list[Paper] = []
        number = skip
        position = 0
        for number, line in _lines(raw, path, skip):
            if line is None:
                report.reject(f"{path}:{number}", "a line too long")
                continue
            try:
                batch.append(parse_record(json.loads(line.rstrip(b"\r\n").decode())))
            except (UnicodeDecodeError, json.JSONDecodeError, MalformedRecord) as error:
                report.reject(f"{path}:{number}", str(error))
            if len(batch) >= batch_size:
                _merge(db, key, batch, number, report, done=False)
                batch = []
                progress.advance(raw.tell() - position)
                position = raw.tell()
        _merge(db, key, batch, number, report, done=True)
        progress.advance(raw.tell() - position)
    return report


def _merge(
    db: Database, key: str, papers: list[Paper], lines: int, report: IngestReport, *, done: bool
) -> None:
    with db.transaction() as session:
        if papers:
            raw = session.connection().connection.driver_connection
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                _copy(cursor, papers)
                changed = cursor.execute(_merge_sql()).fetchall()
                ids = [paper_id for paper_id, _ in changed]
                inserted = sum(1 for _, new in changed if new)
                for statement in _AUTHORS_SQL:
                    cursor.execute(statement, {"changed": ids} if "%(" in statement else None)
            stats = report.saved.papers
            stats.inserted += inserted
            stats.updated += len(ids) - inserted
            stats.unchanged += len({p.arxiv_id for p in papers}) - len(ids)
        write_checkpoint(session, key, {"lines": lines, "done": done})


def _copy(cursor, papers: list[Paper]) -> None:
    cursor.execute(_STAGE)
    columns = ", ".join(_COLUMNS)
    with cursor.copy(f"COPY pf_stage_papers ({columns}) FROM STDIN") as copy:
        for p in papers:
            copy.write_row((
                p.arxiv_id, p.version, p.title, p.abstract, " ".join(p.categories), p.comments,
                p.journal_ref, p.doi, p.license, p.primary_category,
                _naive(p.published_at), _naive(p.updated_at), p.announced_on,
            ))  # fmt: skip
    authors = "COPY pf_stage_authors (paper_id, position, name, name_key) FROM STDIN"
    with cursor.copy(authors) as copy:
        for p in papers:
            for position, author in enumerate(p.authors):
                copy.write_row((p.arxiv_id, position, author.name, normalize_name(author.name)))


def _naive(value):
    """UTC without a zone, as UTCDateTime stores it."""
    from datetime import UTC

    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
