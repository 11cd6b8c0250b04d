"""Imports the arXiv bulk-metadata snapshot (JSON lines, plain or gzipped), resumably."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from paperfeed.core.progress import NoProgress, ProgressSink
from paperfeed.domain import STORABLE, InvalidArxivId, Paper, parse_arxiv_id
from paperfeed.ingest.report import IngestReport, explain
from paperfeed.store.db import Database
from paperfeed.store.writer import read_checkpoint, save_papers, write_checkpoint

# Records per transaction: large enough for fast bulk writes, small enough to lose little.
BATCH_SIZE = 2000


class MalformedRecord(ValueError):
    """A snapshot record that cannot be imported; the message says why."""


LINE_MAX = 1024 * 1024  # one snapshot record is a few kB


def import_file(
    db: Database,
    path: Path,
    *,
    progress: ProgressSink | None = None,
    restart: bool = False,
    batch_size: int = BATCH_SIZE,
) -> IngestReport:
    """Import every record of a snapshot file.

    Each batch commits together with a checkpoint (the number of lines done), so a killed run
    started again continues after the last committed batch; a finished file is skipped unless
    `restart`. Malformed lines are listed in the report and everything else is imported.
    """
    progress = progress or NoProgress()
    report = IngestReport()
    if not path.is_file():
        report.reject(str(path), "no such file")
        return report
    if path.suffix == ".gz" and path.stat().st_size == 0:  # gzip reads it as no lines at all
        report.reject(str(path), "an empty .gz file (a gzip file is never empty)")
        return report
    key = f"arxiv-jsonl:{_fingerprint(path)}"
    with db.transaction() as session:
        state = None if restart else read_checkpoint(session, key)
    if state and state.get("done"):
        report.skipped_sources.append(str(path))
        return report
    skip = state["lines"] if state else 0

    with path.open("rb") as raw:
        progress.start(f"arxiv-jsonl {path.name}", path.stat().st_size)
        batch: list[Paper] = []
        lines_done = 0
        position = 0
        try:
            for lines_done, line in _lines(raw, path, skip):
                if line is None:
                    report.reject(f"{path}:{lines_done}", f"a line over {LINE_MAX:,} bytes")
                    continue
                try:
                    batch.append(parse_line(line))
                except MalformedRecord as error:
                    report.reject(f"{path}:{lines_done}", str(error))
                if len(batch) >= batch_size:
                    _commit(db, key, batch, lines_done, report, done=False)
                    batch = []
                    progress.advance(raw.tell() - position)
                    position = raw.tell()
        except (EOFError, OSError, zlib.error) as error:  # truncated or corrupt compression
            report.reject(str(path), f"cannot read past line {lines_done}: {error}")
            _commit(db, key, batch, lines_done, report, done=False)
            return report
        _commit(db, key, batch, lines_done, report, done=True)
        progress.advance(raw.tell() - position)
    return report


# What in a raw line can decode to text that core.text.storable changes: DEL or a C1 control
# (raw or escaped), a C0 control escaped (\b \f \r \u0000-\u001f) or a surrogate escape. Raw
# C0 controls never get that far: json.loads refuses them inside a string.
_RAW_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_CONTROL_ESCAPE = re.compile(rb"\\(?:[bfr]|u00[0189]|u007[fF]|u[dD][89a-fA-F])")


def _storable_line(text: bytes) -> bool:
    """Whether no string decoded from this JSON line holds anything storable() would change."""
    # Byte tests first: a regex over every byte of a line costs more than the models' checks.
    if b"\x7f" in text or (b"\xc2" in text and _RAW_C1.search(text)):
        return False
    if b"\\" not in text:
        return True
    for match in _CONTROL_ESCAPE.finditer(text):
        start = backslash = match.start()
        while backslash and text[backslash - 1] == 0x5C:  # \\frac in JSON is TeX, not \f
            backslash -= 1
        if (start - backslash) % 2 == 0:
            return False
    return True


def parse_line(line: bytes) -> Paper:
    """One snapshot line (JSON, UTF-8) as a Paper; raises MalformedRecord saying why."""
    text = line.rstrip(b"\r\n")
    try:
        # Decoded here: json.loads would guess UTF-16 or -32 from a stray NUL.
        record = json.loads(text.decode())
    except UnicodeDecodeError:
        raise MalformedRecord("not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise MalformedRecord(f"not valid JSON ({error.msg})") from None
    # Most lines hold nothing to clean: then the models need not look at every string.
    return parse_record(record, storable=_storable_line(text))


def parse_record(record: Any, *, storable: bool = False) -> Paper:
    """One snapshot record as a Paper; raises MalformedRecord.

    `storable`: the caller knows no string in `record` needs core.text.storable.
    """
    if not isinstance(record, dict):
        raise MalformedRecord(f"a JSON {type(record).__name__}, not an object")
    raw_id = record.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise MalformedRecord("record has no id")
    try:
        arxiv_id, version = parse_arxiv_id(raw_id)
    except InvalidArxivId as error:
        raise MalformedRecord(str(error)) from None
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        raise MalformedRecord(f"paper {arxiv_id} has no title")
    versions = record.get("versions") or []
    created = [_rfc2822(v.get("created")) for v in versions if isinstance(v, dict)]
    try:
        return Paper.model_validate(dict(
            arxiv_id=arxiv_id,
            version=len(versions) or version,
            title=title,
            abstract=record.get("abstract") or "",
            authors=[{"name": name} for name in _author_names(record)],
            categories=_text(record, "categories").split(),
            published_at=created[0] if created else None,
            updated_at=created[-1] if len(created) > 1 else None,
            announced_on=_day(record.get("first_seen_date")),
            comments=record.get("comments"),
            journal_ref=record.get("journal-ref"),
            doi=record.get("doi"),
            license=record.get("license"),
            source="arxiv",
        ), context={STORABLE: storable})  # fmt: skip
    except (ValueError, TypeError) as error:  # pydantic's ValidationError is a ValueError
        raise MalformedRecord(f"paper {arxiv_id}: {explain(error)}") from None


def _lines(raw: IO[bytes], path: Path, skip: int) -> Iterator[tuple[int, bytes | None]]:
    """Numbered non-empty lines after the first `skip`, decompressing .gz files.

    A line longer than LINE_MAX is read past in pieces, never held whole, and comes as None.
    """
    stream = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
    number = 0
    while line := stream.readline(LINE_MAX + 1):
        number += 1
        too_long = len(line) > LINE_MAX
        while line and not line.endswith(b"\n") and too_long:
            line = stream.readline(LINE_MAX)
        if number > skip and too_long:
            yield number, None
        elif number > skip and line.strip():
            yield number, line


def _commit(
    db: Database, key: str, batch: list[Paper], lines: int, report: IngestReport, *, done: bool
) -> None:
    with db.transaction() as session:
        report.saved.papers.add(save_papers(session, batch))
        write_checkpoint(session, key, {"lines": lines, "done": done})


def _fingerprint(path: Path) -> str:
    """Identifies a file by size and leading bytes, wherever it is stored."""
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(1 << 20)).hexdigest()[:24]
    return f"{head}:{path.stat().st_size}"


_ALNUM = re.compile(r"[^\W_]")  # a character str.isalnum() accepts


def _author_names(record: dict) -> list[str]:
    # Listings sometimes carry separators as names (":" after a collaboration name): drop them.
    return [name for name in _listed_names(record) if _ALNUM.search(name)]


def _listed_names(record: dict) -> list[str]:
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed:  # the snapshot's [last, first, suffix] triples
        return [" ".join(p for p in (*part[1:2], part[0], *part[2:3]) if p) for part in parsed]
    listed = record.get("authors_list")
    if isinstance(listed, list):
        return [name.strip() for name in listed if isinstance(name, str) and name.strip()]
    names = _text(record, "authors").replace(" and ", ", ").split(",")
    return [" ".join(name.split()) for name in names if name.strip()]


def _text(record: dict, key: str) -> str:
    """A field the code splits, as text ("" when missing); anything else is malformed."""
    value = record.get(key) or ""
    if not isinstance(value, str):
        raise MalformedRecord(f"{key} is a JSON {type(value).__name__}, not text")
    return value


def _rfc2822(value: Any) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        raise MalformedRecord(f"bad version date {value!r}") from None


def _day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise MalformedRecord(f"bad date {value!r}") from None
