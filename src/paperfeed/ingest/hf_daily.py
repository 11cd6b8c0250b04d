"""Imports Hugging Face daily-papers listings, from saved API responses or the live API."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from paperfeed.core.progress import NoProgress, ProgressSink
from paperfeed.domain import (
    Author,
    DailyEntry,
    InvalidArxivId,
    Organization,
    Paper,
    Submitter,
    parse_arxiv_id,
)
from paperfeed.ingest.http import PoliteClient, RemoteError
from paperfeed.ingest.report import IngestReport, explain
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.writer import read_checkpoint, save_daily_entries, write_checkpoint

log = logging.getLogger(__name__)

_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
# The live API answers at most this many entries per request.
_API_PAGE = 100


class MalformedEntry(ValueError):
    """A daily-papers entry that cannot be imported; the message says why."""


def import_paths(
    db: Database,
    paths: Iterable[Path],
    *,
    progress: ProgressSink | None = None,
    force: bool = False,
) -> IngestReport:
    """Import files (or folders of `*.json` files) of `GET /api/daily_papers` responses.

    Each file commits as one transaction together with a checkpoint of its content hash, so an
    interrupted run resumes with the next file and an unchanged file is not read twice unless
    `force`. Bad files and bad entries are listed in the report; everything else is imported.
    """
    progress = progress or NoProgress()
    report = IngestReport()
    files = _expand(paths, report)
    progress.start("hf-daily files", len(files))
    for path in files:
        _import_file(db, path, report, force=force)
        progress.advance()
    return report


def fetch_days(
    db: Database,
    days: Iterable[date],
    *,
    endpoint: str,
    settings: Settings,
    progress: ProgressSink | None = None,
) -> IngestReport:
    """Fetch `GET {endpoint}/api/daily_papers?date=...` for each day and import the answers."""
    progress = progress or NoProgress()
    report = IngestReport()
    days = list(days)
    progress.start("hf-daily days", len(days))
    base = endpoint.rstrip("/") + "/api/daily_papers"
    with PoliteClient(
        delay_s=settings.http_delay_s,
        timeout_s=settings.http_timeout_s,
        retries=settings.http_retries,
    ) as client:
        for day in days:
            try:
                raw_entries = _fetch_day(client, base, day)
            except (RemoteError, ValueError) as error:
                report.reject(f"{base}?date={day}", str(error))
            else:
                where = f"{base}?date={day}"
                entries = _parse_entries(raw_entries, where, day, report)
                with db.transaction() as session:
                    result = save_daily_entries(session, entries)
                report.saved.papers.add(result.papers)
                report.saved.entries.add(result.entries)
            progress.advance()
    return report


def parse_entry(raw: Any, fallback_day: date | None = None) -> DailyEntry:
    """One entry of a daily-papers response as a DailyEntry; raises MalformedEntry."""
    if not isinstance(raw, dict):
        raise MalformedEntry(f"entry is a {type(raw).__name__}, not a JSON object")
    paper = raw.get("paper")
    if not isinstance(paper, dict):
        raise MalformedEntry("entry has no 'paper' object")
    raw_id = paper.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise MalformedEntry("paper has no id")
    try:
        arxiv_id, version = parse_arxiv_id(raw_id)
    except InvalidArxivId as error:
        raise MalformedEntry(str(error)) from None
    title = paper.get("title") or raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise MalformedEntry(f"paper {arxiv_id} has no title")
    submitted_at = _timestamp(paper.get("submittedOnDailyAt"), "submittedOnDailyAt")
    day = submitted_at.date() if submitted_at else fallback_day
    if day is None:
        raise MalformedEntry(f"paper {arxiv_id}: no submittedOnDailyAt and no day in the name")
    try:
        record = Paper(
            arxiv_id=arxiv_id,
            version=version,
            title=title,
            abstract=paper.get("summary") or raw.get("summary") or "",
            authors=[_author(a) for a in paper.get("authors") or [] if _author_name(a)],
            published_at=_timestamp(paper.get("publishedAt"), "publishedAt"),
            organization=_organization(paper.get("organization") or raw.get("organization")),
            upvotes=int(paper.get("upvotes") or 0),
            github_repo=paper.get("githubRepo"),
            github_stars=paper.get("githubStars"),
            project_page=paper.get("projectPage"),
            ai_summary=paper.get("ai_summary"),
            ai_keywords=paper.get("ai_keywords"),
            discussion_id=paper.get("discussionId"),
            source="hf",
            listed_on=day,
        )
        return DailyEntry(
            day=day,
            paper=record,
            submitted_by=_submitter(raw.get("submittedBy"), paper.get("submittedOnDailyBy")),
            submitted_at=submitted_at,
            num_comments=int(raw.get("numComments") or 0),
            thumbnail=raw.get("thumbnail"),
            is_author_participating=bool(raw.get("isAuthorParticipating")),
        )
    except (ValueError, TypeError, OverflowError) as error:  # ValidationError is a ValueError
        raise MalformedEntry(f"paper {arxiv_id}: {explain(error)}") from None


def _expand(paths: Iterable[Path], report: IngestReport) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.json") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            report.reject(str(path), "no such file or folder")
    return files


def _import_file(db: Database, path: Path, report: IngestReport, *, force: bool) -> None:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    key = f"hf-daily-file:{path.resolve()}"
    with db.transaction() as session:
        done = read_checkpoint(session, key)
    if done and done.get("sha256") == digest and not force:
        report.skipped_sources.append(str(path))
        return
    try:
        payload = json.loads(data)
    except UnicodeDecodeError:
        report.reject(str(path), "not UTF-8 text")
        return
    except json.JSONDecodeError as error:
        report.reject(str(path), f"not valid JSON ({error.msg} at line {error.lineno} column "
                      f"{error.colno}); the file may be truncated")  # fmt: skip
        return
    if problem := _shape_problem(payload):
        report.reject(str(path), problem)
        return
    match = _DAY_IN_NAME.search(path.name)
    fallback_day = date.fromisoformat(match.group(1)) if match else None
    entries = _parse_entries(payload, str(path), fallback_day, report)
    with db.transaction() as session:
        result = save_daily_entries(session, entries)
        write_checkpoint(session, key, {"sha256": digest, "entries": len(entries)})
    report.saved.papers.add(result.papers)
    report.saved.entries.add(result.entries)


def _shape_problem(payload: Any) -> str | None:
    """Why a decoded file is not a daily-papers response, or None if it is one."""
    if isinstance(payload, dict):
        keys = ", ".join(sorted(map(str, payload))[:6])
        return (
            f"a JSON object (keys: {keys}) wrapping the entries, not the API's list of "
            "entries; save the API response itself"
        )
    if not isinstance(payload, list):
        return f"a JSON {type(payload).__name__}, not the API's list of entries"
    strings = sum(isinstance(item, str) for item in payload)
    if payload and strings == len(payload):
        start = payload[0][:40]
        looks_like_repr = start.startswith("{'") or "': " in start
        kind = "Python-repr text (single quotes, True/False/None)" if looks_like_repr else "text"
        return f"the entries are strings of {kind}, not JSON objects (first: {start!r}...)"
    return None


def _parse_entries(
    payload: list[Any], where: str, fallback_day: date | None, report: IngestReport
) -> list[DailyEntry]:
    entries: list[DailyEntry] = []
    for index, raw in enumerate(payload):
        try:
            entries.append(parse_entry(raw, fallback_day))
        except MalformedEntry as error:
            report.reject(f"{where}#{index}", str(error))
    return entries


def _fetch_day(client: PoliteClient, base: str, day: date) -> list[Any]:
    entries: list[Any] = []
    page = 0
    while True:
        response = client.get(base, params={"date": day.isoformat(), "p": page, "limit": _API_PAGE})
        if response.status_code != 200:
            raise RemoteError(f"HTTP {response.status_code}: {response.text[:200]}")
        payload = response.json()
        if problem := _shape_problem(payload):
            raise RemoteError(problem)
        entries.extend(payload)
        if len(payload) < _API_PAGE:
            return entries
        page += 1


def _author_name(raw: Any) -> str:
    return raw.get("name", "").strip() if isinstance(raw, dict) else ""


def _author(raw: dict) -> Author:
    user = raw.get("user")
    return Author(
        name=_author_name(raw), hf_user=user.get("user") if isinstance(user, dict) else None
    )


def _organization(raw: Any) -> Organization | None:
    if not isinstance(raw, dict) or not raw.get("name"):
        return None
    return Organization(
        name=raw["name"], fullname=raw.get("fullname"), avatar_url=raw.get("avatar")
    )


def _submitter(*candidates: Any) -> Submitter | None:
    for raw in candidates:
        if isinstance(raw, dict) and (raw.get("name") or raw.get("user")):
            return Submitter(
                username=raw.get("name") or raw.get("user"),
                fullname=raw.get("fullname"),
                avatar_url=raw.get("avatarUrl"),
            )
    return None


def _timestamp(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MalformedEntry(f"{field} is not a timestamp: {value!r}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEntry(f"{field} is not a timestamp: {value[:40]!r}") from None
