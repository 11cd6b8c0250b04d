"""Fast bulk import of the arXiv snapshot into PostgreSQL: COPY into staging tables, then merge.

A second process reads and parses the file (`arxiv_jsonl.parse_line`, the plain importer's own
rules) and formats each batch as COPY text, while this one loads the batch before it: on two
cores, parsing and the database's work overlap. Each batch is copied into a temporary staging
table and merged with a few INSERT ... SELECT statements, in the batch's transaction with the
file's checkpoint, so a killed import resumes after the last committed batch.

The merge follows store/writer.py's rules for arXiv records, and stores what
`arxiv_jsonl.import_file` stores (tests/ingest/test_bulk_pg.py compares them): arXiv owns the
bibliographic fields (an older version never replaces a newer one; an empty value never erases
one), the earliest announce day is kept, changed papers go to the search outbox, a paper's
author list is replaced when the record owns it and the list differs, and an author no paper
names any more is deleted. Two records of one paper in one batch merge as
`writer._merge_models` merges them (the same function), so batches of the same size give the
same result as the plain importer.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from paperfeed.core.progress import NoProgress, ProgressSink
from paperfeed.domain import Paper, normalize_name
from paperfeed.ingest.arxiv_jsonl import LINE_MAX, MalformedRecord, _fingerprint, _lines, parse_line
from paperfeed.ingest.report import IngestReport
from paperfeed.store.db import Database
from paperfeed.store.writer import _merge_models, read_checkpoint, write_checkpoint

BATCH_SIZE = 50_000  # records per COPY and transaction
QUEUED_BATCHES = 2  # parsed batches waiting for the database: memory for overlap

_TEXT = ("title", "abstract", "categories", "comments", "journal_ref", "doi", "license")
_COLUMNS = ("id", "version", *_TEXT, "primary_category", "published_at", "updated_at",
            "announced_on")  # fmt: skip
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS pf_stage_papers (
    seq integer, id text, version integer, title text, abstract text, categories text,
    comments text, journal_ref text, doi text, license text, primary_category text,
    published_at timestamp, updated_at timestamp, announced_on date,
    authors text[], author_keys text[]
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS pf_stored (
    id text PRIMARY KEY, owner boolean, authors_differ boolean
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS pf_changed (
    id text PRIMARY KEY, inserted boolean, take_authors boolean
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS pf_gone_authors (author_id integer) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS pf_stage_authors (name text, name_key text) ON COMMIT DELETE ROWS;
"""


_NOT_INSERTED = "NOT EXISTS (SELECT 1 FROM pf_changed c WHERE c.id = s.id)"


def _owner(old: str, new: str) -> str:
    """SQL: the incoming arXiv record owns the bibliography (store/writer._owns_bibliography)."""
    older_version = f"{new}.version > 0 AND {old}.version > 0 AND {new}.version < {old}.version"
    older_update = f"{new}.updated_at < {old}.updated_at"
    return (
        f"({old}.metadata_source = 'hf' OR NOT (COALESCE({older_version}, false) "
        f"OR COALESCE({older_update}, false)))"
    )


# Which staged papers are stored already, whether the record owns each one's bibliography and
# whether its author list differs from the stored one (the plain importer compares (name,
# hf_user) pairs; an arXiv record's hf_user is always empty).
_STORED = f"""
INSERT INTO pf_stored (id, owner, authors_differ)
SELECT s.id, {_owner("p", "s")},
    ARRAY(SELECT a.name FROM paper_authors a WHERE a.paper_id = p.id ORDER BY a.position)
        IS DISTINCT FROM s.authors
    OR EXISTS (SELECT 1 FROM paper_authors a WHERE a.paper_id = p.id AND a.hf_user IS NOT NULL)
FROM pf_stage_papers s JOIN papers p ON p.id = s.id WHERE {_NOT_INSERTED}
"""


_INSERT_COLUMNS = (*_COLUMNS, "metadata_source", "upvotes_base", "upvotes_local",
                   "comments_local", "ai_keywords")  # fmt: skip
# ai_keywords: the plain importer writes JSON null (SQLAlchemy's JSON type), not SQL NULL.
_NEW_VALUES = f"{', '.join(_COLUMNS)}, 'arxiv', 0, 0, 0, 'null'"
# The papers not stored yet, inserted without looking at anything else: in a first import of
# a snapshot that is every paper, and the statements after it find nothing to do.
_INSERT_NEW = f"""
WITH inserted AS (
    INSERT INTO papers ({", ".join(_INSERT_COLUMNS)})
    SELECT {_NEW_VALUES} FROM pf_stage_papers
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
INSERT INTO pf_changed (id, inserted, take_authors) SELECT id, true, true FROM inserted
"""


def _merge_sql() -> str:
    """SQL: the staged papers already stored, merged as store/writer._merged_row merges them."""
    owner = _owner("p", "excluded")
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
    merged["upvotes_base"] = "COALESCE(p.upvotes_base, 0)"
    return f"""
WITH merged AS (
    INSERT INTO papers AS p ({", ".join(_INSERT_COLUMNS)})
    SELECT {_NEW_VALUES} FROM pf_stage_papers s WHERE {_NOT_INSERTED}
    ON CONFLICT (id) DO UPDATE SET {", ".join(f"{c} = {v}" for c, v in merged.items())}
    WHERE ({", ".join(f"p.{c}" for c in merged)}) IS DISTINCT FROM ({", ".join(merged.values())})
       OR EXISTS (SELECT 1 FROM pf_stored e WHERE e.id = p.id AND e.owner AND e.authors_differ)
    RETURNING p.id, (xmax = 0) AS inserted
)
INSERT INTO pf_changed (id, inserted, take_authors)
SELECT m.id, m.inserted, m.inserted OR COALESCE(e.owner AND e.authors_differ, false)
FROM merged m LEFT JOIN pf_stored e ON e.id = m.id
"""


_MERGE = _merge_sql()
_TAKEN = """
FROM pf_stage_papers s JOIN pf_changed c ON c.id = s.id AND c.take_authors
CROSS JOIN LATERAL unnest(s.authors, s.author_keys) WITH ORDINALITY AS u (name, key, n)
"""
_SEARCH_OUTBOX = "INSERT INTO search_changes (paper_id) SELECT id FROM pf_changed"
# The author lists replaced: their links go, remembering who they named.
_UNLINK = (
    "WITH gone AS (DELETE FROM paper_authors a USING pf_changed c WHERE a.paper_id = c.id "
    "AND c.take_authors AND NOT c.inserted RETURNING a.author_id) "
    "INSERT INTO pf_gone_authors SELECT DISTINCT author_id FROM gone"
)
# The last spelling of a name in the batch, as the plain importer's dict keeps it.
_NEW_AUTHORS = (
    f"INSERT INTO authors (name, name_key) SELECT DISTINCT ON (u.key) u.name, u.key {_TAKEN} "
    "ORDER BY u.key, s.seq DESC, u.n DESC ON CONFLICT (name_key) DO NOTHING"
)
# The same when every staged paper is new: the parser listed each name once, no sort needed.
_NEW_AUTHORS_ALL_TAKEN = (
    "INSERT INTO authors (name, name_key) SELECT name, name_key FROM pf_stage_authors "
    "ON CONFLICT (name_key) DO NOTHING"
)
_LINK = (
    "INSERT INTO paper_authors (paper_id, position, author_id, name) "
    f"SELECT s.id, u.n - 1, a.id, u.name {_TAKEN} JOIN authors a ON a.name_key = u.key"
)
# A spelling no paper uses any more goes (store/writer._replace_authors).
_DROP_UNUSED_AUTHORS = (
    "DELETE FROM authors a USING (SELECT DISTINCT author_id FROM pf_gone_authors) g "
    "WHERE a.id = g.author_id AND NOT EXISTS "
    "(SELECT 1 FROM paper_authors pa WHERE pa.author_id = a.id)"
)


@dataclass
class _Batch:
    """What the parsing process hands over: one transaction's worth of the file."""

    lines: int  # the number of the last line read: the checkpoint after this batch
    position: int  # bytes of the (compressed) file read, for the progress bar
    papers: int  # distinct papers in `copy`
    copy: bytes  # pf_stage_papers rows in COPY text format
    authors: bytes  # pf_stage_authors rows: each name key once, with its last spelling
    rejected: list[tuple[str, str]] = field(default_factory=list)
    done: bool = False  # the file's last batch
    unreadable: str | None = None  # why reading stopped before the end


def import_file(
    db: Database,
    path: Path,
    *,
    progress: ProgressSink | None = None,
    restart: bool = False,
    batch_size: int = BATCH_SIZE,
    parallel: bool = True,
) -> IngestReport:
    """Import a snapshot file into PostgreSQL by COPY and merge; resumable like arxiv_jsonl.

    `parallel`: parse in a second process (the default); False parses in this one.
    """
    if db.engine.dialect.name != "postgresql":
        raise ValueError("the COPY import needs PostgreSQL; use arxiv_jsonl.import_file")
    progress = progress or NoProgress()
    report = IngestReport()
    if not path.is_file():
        report.reject(str(path), "no such file")
        return report
    if path.suffix == ".gz" and path.stat().st_size == 0:  # gzip reads it as no lines at all
        report.reject(str(path), "an empty .gz file (a gzip file is never empty)")
        return report
    key = f"arxiv-jsonl:{_fingerprint(path)}"  # the same checkpoint as the plain importer
    with db.transaction() as session:
        state = None if restart else read_checkpoint(session, key)
    if state and state.get("done"):
        report.skipped_sources.append(str(path))
        return report
    skip = state["lines"] if state else 0
    progress.start(f"arxiv-jsonl (COPY) {path.name}", path.stat().st_size)
    batches = _parsed_elsewhere if parallel else _batches
    position = 0
    for batch in batches(path, skip, batch_size):
        for where, problem in batch.rejected:
            report.reject(where, problem)
        if batch.unreadable:
            report.reject(str(path), batch.unreadable)
        _merge(db, key, batch, report)
        progress.advance(batch.position - position)
        position = batch.position
    return report


def _batches(path: Path, skip: int, batch_size: int) -> Iterator[_Batch]:
    """The file after line `skip` as batches of `batch_size` papers, parsed and formatted."""
    with path.open("rb") as raw:
        papers: dict[str, Paper] = {}
        rejected: list[tuple[str, str]] = []
        accepted = 0  # records, as the plain importer counts a batch (repeats included)
        number = skip
        try:
            for number, line in _lines(raw, path, skip):
                if line is None:
                    rejected.append((f"{path}:{number}", f"a line over {LINE_MAX:,} bytes"))
                    continue
                try:
                    paper = parse_line(line)
                except MalformedRecord as error:
                    rejected.append((f"{path}:{number}", str(error)))
                    continue
                if (first := papers.get(paper.arxiv_id)) is not None:  # rare: merge as writer does
                    paper = _merge_models(first, paper)
                papers[paper.arxiv_id] = paper
                accepted += 1
                if accepted >= batch_size:
                    yield _batch(papers, number, raw.tell(), rejected)
                    papers, rejected, accepted = {}, [], 0
        except (EOFError, OSError, zlib.error) as error:  # truncated or corrupt compression
            unreadable = f"cannot read past line {number}: {error}"
            yield _batch(papers, number, raw.tell(), rejected, unreadable=unreadable)
            return
        yield _batch(papers, number, raw.tell(), rejected, done=True)


def _batch(
    papers: dict[str, Paper],
    lines: int,
    position: int,
    rejected: list[tuple[str, str]],
    *,
    done: bool = False,
    unreadable: str | None = None,
) -> _Batch:
    spellings: dict[str, str] = {}  # name key: its last spelling in the batch
    rows = []
    for seq, paper in enumerate(papers.values()):
        names = [author.name for author in paper.authors]
        keys = [normalize_name(name) for name in names]
        spellings.update(zip(keys, names, strict=True))
        rows.append(_copy_row(seq, paper, names, keys))
    authors = "".join(f"{_text(name)}\t{_text(key)}\n" for key, name in spellings.items())
    return _Batch(lines, position, len(papers), "".join(rows).encode(), authors.encode(),
                  rejected, done, unreadable)  # fmt: skip


def _parsed_elsewhere(path: Path, skip: int, batch_size: int) -> Iterator[_Batch]:
    """`_batches`, run in a child process a batch or two ahead of the caller.

    The child is spawned, not forked, so it holds no copy of this process's connections or
    threads; as with any spawning code, a script calling this needs `if __name__ == "__main__"`.
    """
    context = multiprocessing.get_context("spawn")  # no copy of this process's connections
    handoff: Any = context.Queue(maxsize=QUEUED_BATCHES)
    parser = context.Process(
        target=_parse_into, args=(path, skip, batch_size, handoff), daemon=True
    )
    parser.start()
    try:
        while True:
            try:
                item = handoff.get(timeout=1)
            except queue.Empty:
                if not parser.is_alive():
                    died = f"the parsing process died (exit {parser.exitcode})"
                    raise RuntimeError(died) from None
                continue
            if isinstance(item, str):  # the child's traceback
                raise RuntimeError(f"parsing {path} failed:\n{item}")
            yield item
            if item.done or item.unreadable:
                return
    finally:
        if parser.is_alive():
            parser.kill()
        parser.join()


def _parse_into(path: Path, skip: int, batch_size: int, handoff: Any) -> None:
    """The child process: batches into the queue, until done or the parent is gone."""
    parent = multiprocessing.parent_process()
    try:
        for batch in _batches(path, skip, batch_size):
            while True:
                try:
                    handoff.put(batch, timeout=1)
                    break
                except queue.Full:
                    if parent is None or not parent.is_alive():
                        handoff.cancel_join_thread()  # nobody will read what is queued
                        return
    except Exception:  # shown by the parent, which has the user's attention
        handoff.put(traceback.format_exc())


def _merge(db: Database, key: str, batch: _Batch, report: IngestReport) -> None:
    with db.transaction() as session:
        if batch.papers:
            raw = session.connection().connection.driver_connection
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(_STAGE)
                cursor.execute("SET LOCAL work_mem = '64MB'")  # the authors' sort, in memory
                columns = "seq, " + ", ".join(_COLUMNS) + ", authors, author_keys"
                with cursor.copy(f"COPY pf_stage_papers ({columns}) FROM STDIN") as copy:
                    copy.write(batch.copy)
                all_new = cursor.execute(_INSERT_NEW).rowcount == batch.papers
                if not all_new:  # some stored already: merge them
                    cursor.execute(_STORED)
                    cursor.execute(_MERGE)
                cursor.execute("SELECT count(*), count(*) FILTER (WHERE inserted) FROM pf_changed")
                changed, inserted = cursor.fetchone()
                cursor.execute(_SEARCH_OUTBOX)
                if all_new:
                    with cursor.copy("COPY pf_stage_authors (name, name_key) FROM STDIN") as copy:
                        copy.write(batch.authors)
                    cursor.execute(_NEW_AUTHORS_ALL_TAKEN)
                    cursor.execute(_LINK)
                else:
                    for statement in (_UNLINK, _NEW_AUTHORS, _LINK, _DROP_UNUSED_AUTHORS):
                        cursor.execute(statement)
            stats = report.saved.papers
            stats.inserted += inserted
            stats.updated += changed - inserted
            stats.unchanged += batch.papers - changed
        write_checkpoint(session, key, {"lines": batch.lines, "done": batch.done})


_NULL = "\\N"  # COPY text format's NULL


def _copy_row(seq: int, p: Paper, names: list[str], keys: list[str]) -> str:
    """One pf_stage_papers row in COPY text format."""
    fields = (
        str(seq), p.arxiv_id, _NULL if p.version is None else str(p.version), _text(p.title),
        _text(p.abstract), _text(" ".join(p.categories)), _text(p.comments),
        _text(p.journal_ref), _text(p.doi), _text(p.license), _text(p.primary_category),
        _time(p.published_at), _time(p.updated_at), _day(p.announced_on),
        _array(names), _array(keys),
    )  # fmt: skip
    return "\t".join(fields) + "\n"


def _text(value: str | None) -> str:
    """COPY text format: backslash, tab, newline and carriage return escaped."""
    if value is None:
        return _NULL
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace(
        "\r", "\\r"
    )


def _array(values: list[str]) -> str:
    """A text[] literal ({"a","b"}), COPY-escaped."""
    text = '","'.join(values)
    if "\\" in text or '"' in text:  # rare in names: quote each element's own
        text = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return _text('{"' + text + '"}') if values else "{}"


def _time(value: datetime | None) -> str:
    """UTC without a zone, as UTCDateTime stores it (a Paper's times are aware UTC)."""
    return _NULL if value is None else value.replace(tzinfo=None).isoformat()


def _day(value: date | None) -> str:
    return _NULL if value is None else value.isoformat()
