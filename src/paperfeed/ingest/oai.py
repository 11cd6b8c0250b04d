"""Harvests arXiv metadata over OAI-PMH (ListRecords, metadataPrefix `arXiv`), resumably.

Each page of records commits in one transaction together with a checkpoint that holds the
resumption token of the next page, so a harvest killed at any moment resumes from the last
committed page, and every record is written exactly once. https://info.arxiv.org/help/oa/
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from lxml import etree

from paperfeed.core.progress import NoProgress, ProgressSink
from paperfeed.domain import Author, Paper, parse_arxiv_id
from paperfeed.ingest import safe_xml
from paperfeed.ingest.http import PoliteClient, RemoteError
from paperfeed.ingest.report import IngestReport, Rejection
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.writer import (
    delete_checkpoint,
    read_checkpoint,
    save_papers,
    write_checkpoint,
)

log = logging.getLogger(__name__)

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
ARXIV_NS = "http://arxiv.org/OAI/arXiv/"
_NS = {"o": OAI_NS, "a": ARXIV_NS}
# No DTDs, no entity expansion, no network: a hostile response must not reach files or hosts.
# A response that does not parse may be a truncated transfer: ask this many times more.
_MALFORMED_RETRIES = 2
# How often an expired resumption token may send one harvest back to the window's start.
_MAX_RESTARTS = 2
# A first version announced more than this many days after submission is rare (holds, holidays).
_NEW_PAPER_DAYS = 10


class OaiError(RemoteError):
    """The repository answered with an OAI-PMH error; `code` is the protocol's error code."""

    def __init__(self, code: str, message: str, url: str) -> None:
        super().__init__(f"OAI-PMH error {code} from {url}: {message}")
        self.code = code
        self.message = message


@dataclass
class HarvestReport(IngestReport):
    """An IngestReport that also counts what this run read.

    `rejected` covers the whole harvest, earlier interrupted runs of it included.
    """

    pages: int = 0
    records: int = 0
    deleted: int = 0  # records the repository marks deleted: skipped, not rejected
    restarts: int = 0  # times an expired resumption token sent the harvest back to the start


@dataclass
class _Page:
    records: list[Any]  # <record> elements
    token: str | None  # None on the last page
    complete_size: int | None


def harvest(
    db: Database,
    *,
    url: str,
    from_date: date,
    until_date: date | None = None,
    set_spec: str | None = None,
    delay_s: float = 3.0,
    settings: Settings,
    progress: ProgressSink | None = None,
    restart: bool = False,
) -> HarvestReport:
    """Harvest the records with datestamps in [from_date, until_date] (of `set_spec`) into db.

    Resumes an interrupted harvest of the same url, set and window from its checkpoint unless
    `restart`. Records without id or title are rejected (listed in the report), deleted records
    are skipped, and an expired resumption token restarts the window from its beginning (writes
    are idempotent). Raises `OaiError` for other OAI-PMH errors and `RemoteError` when the
    repository cannot be reached or keeps sending malformed XML; finished pages stay committed.
    """
    progress = progress or NoProgress()
    report = HarvestReport()
    key = checkpoint_key(url, set_spec, from_date, until_date)
    with db.transaction() as session:
        state = None if restart else read_checkpoint(session, key)
    window = {"verb": "ListRecords", "metadataPrefix": "arXiv", "from": from_date.isoformat()}
    if until_date:
        window["until"] = until_date.isoformat()
    if set_spec:
        window["set"] = set_spec
    label = f"oai {set_spec or 'all'}"
    with PoliteClient(
        delay_s=delay_s, timeout_s=settings.http_timeout_s, retries=settings.http_retries
    ) as client:
        while True:
            try:
                state = {**_fresh_state(), **(state or {})}
                _harvest_pages(db, client, url, window, key, state, report, label, progress)
                return report
            except OaiError as error:
                if error.code != "badResumptionToken" or report.restarts >= _MAX_RESTARTS:
                    raise
                log.warning("%s; harvesting the window again from its start", error)
                report.restarts += 1
                state = None


def checkpoint_key(url: str, set_spec: str | None, from_date: date, until: date | None) -> str:
    """The checkpoint name of one harvest: the same repository, set and window resume it."""
    return f"oai {url} set={set_spec or ''} from={from_date} until={until or ''}"


def _fresh_state() -> dict:
    return {"token": None, "pages": 0, "records": 0, "complete_size": None, "rejected": []}


def _harvest_pages(
    db: Database,
    client: PoliteClient,
    url: str,
    window: dict[str, str],
    key: str,
    state: dict,
    report: HarvestReport,
    label: str,
    progress: ProgressSink,
) -> None:
    """Fetch and commit page after page, starting where `state` says, until the last one."""
    if state["token"]:
        log.info("resuming %s after page %d (%d records)", url, state["pages"], state["records"])
    first = True
    while True:
        # Per the protocol a resumed request carries the verb and the token, nothing else.
        params = window
        if state["token"]:
            params = {"verb": "ListRecords", "resumptionToken": state["token"]}
        page = _read_page(*_fetch(client, url, params))
        if first:
            state["complete_size"] = page.complete_size or state["complete_size"]
            progress.start(label, state["complete_size"])
            progress.advance(state["records"])
            first = False
        papers = _papers_of(page, state, report)
        state.update(token=page.token, pages=state["pages"] + 1)
        state["records"] += len(page.records)
        with db.transaction() as session:
            report.saved.papers.add(save_papers(session, papers))
            if page.token:
                write_checkpoint(session, key, state)
            else:
                delete_checkpoint(session, key)
        report.pages += 1
        report.records += len(page.records)
        report.rejected = [Rejection(where, problem) for where, problem in state["rejected"]]
        progress.advance(len(page.records))
        if not page.token:
            log.info("harvested %s: %d records, %d deleted", url, state["records"], report.deleted)
            return


def _fetch(client: PoliteClient, url: str, params: dict[str, str]) -> tuple[Any, str]:
    """The parsed response and the URL it came from; malformed XML is asked for again."""
    where, problem = url, None
    for attempt in range(_MALFORMED_RETRIES + 1):
        response = client.get(url, params=params)
        where = str(response.url)
        if response.status_code != 200:
            raise RemoteError(f"HTTP {response.status_code} from {where}: {response.text[:200]}")
        try:
            root = safe_xml.parse(response.content)
        except etree.XMLSyntaxError as error:
            log.warning("malformed XML from %s (try %d): %s", where, attempt + 1, error)
            problem = error
            continue
        if root.tag != f"{{{OAI_NS}}}OAI-PMH":
            raise RemoteError(f"not an OAI-PMH response from {where}: <{root.tag}>")
        return root, where
    raise RemoteError(
        f"malformed XML from {where} ({_MALFORMED_RETRIES + 1} tries): {problem}; "
        "pages before it are saved, run the harvest again to resume"
    )


def _read_page(root: Any, where: str) -> _Page:
    """The records and resumption token of a ListRecords response; OAI errors raise."""
    errors = [
        (error.get("code", "?"), " ".join((error.text or "").split()))
        for error in root.iterfind("o:error", _NS)
    ]
    if errors:
        real = [(code, message) for code, message in errors if code != "noRecordsMatch"]
        if real:
            raise OaiError(*real[0], url=where)
        return _Page([], None, 0)  # an empty window is a complete harvest
    listing = root.find("o:ListRecords", _NS)
    if listing is None:
        raise RemoteError(f"no <ListRecords> in the response from {where}")
    token = listing.find("o:resumptionToken", _NS)
    size = token.get("completeListSize") if token is not None else None
    return _Page(
        records=listing.findall("o:record", _NS),
        token=((token.text or "").strip() or None) if token is not None else None,
        complete_size=int(size) if size and size.isdigit() else None,
    )


def _papers_of(page: _Page, state: dict, report: HarvestReport) -> list[Paper]:
    """The page's papers; deleted records are counted, bad ones rejected into `state`."""
    papers = []
    for position, record in enumerate(page.records, start=1):
        header = record.find("o:header", _NS)
        identifier = _text(header, "o:identifier") if header is not None else None
        if header is not None and header.get("status") == "deleted":
            report.deleted += 1
            continue
        where = f"page {state['pages'] + 1}, record {position}"
        where = f"{identifier} ({where})" if identifier else where
        metadata = record.find("o:metadata/a:arXiv", _NS)
        try:
            if metadata is None:
                raise ValueError("no <arXiv> metadata")
            datestamp = _text(header, "o:datestamp") if header is not None else None
            papers.append(_to_paper(metadata, datestamp))
        except ValueError as error:  # InvalidArxivId included
            state["rejected"].append([where, str(error)])
    return papers


def _to_paper(metadata: Any, datestamp: str | None = None) -> Paper:
    raw_id = _text(metadata, "a:id")
    if not raw_id:
        raise ValueError("record has no <id>")
    arxiv_id, version = parse_arxiv_id(raw_id)
    title = _text(metadata, "a:title", keep_whitespace=True)
    if not title:
        raise ValueError(f"{arxiv_id} has no <title>")
    names = (_author_name(a) for a in metadata.iterfind("a:authors/a:author", _NS))
    created, updated = _day(_text(metadata, "a:created")), _day(_text(metadata, "a:updated"))
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        abstract=_text(metadata, "a:abstract", keep_whitespace=True) or "",
        authors=[Author(name=name) for name in names if name],
        categories=(_text(metadata, "a:categories") or "").split(),
        published_at=created,
        updated_at=updated,
        announced_on=_announced_on(created, updated, _day(datestamp)),
        comments=_text(metadata, "a:comments"),
        journal_ref=_text(metadata, "a:journal-ref"),
        doi=_text(metadata, "a:doi"),
        license=_text(metadata, "a:license"),
        source="arxiv",
    )


def _author_name(author: Any) -> str:
    parts = (_text(author, f"a:{part}") for part in ("forenames", "keyname", "suffix"))
    return " ".join(part for part in parts if part)


def _announced_on(
    created: datetime | None, updated: datetime | None, datestamp: datetime | None
) -> date | None:
    """The listing day of a new paper: a first version's record is stamped when it is announced.

    A replaced or re-stamped paper's datestamp says nothing about its first announcement, so
    those get None (the writer keeps the earliest day any source gave).
    """
    if created is None or datestamp is None or updated is not None:
        return None
    return datestamp.date() if 0 <= (datestamp - created).days <= _NEW_PAPER_DAYS else None


def _text(parent: Any, path: str, *, keep_whitespace: bool = False) -> str | None:
    return safe_xml.text(parent, path, _NS, keep_whitespace=keep_whitespace)


def _day(text: str | None) -> datetime | None:
    """arXiv's `created`/`updated` days (YYYY-MM-DD) as midnight UTC."""
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise ValueError(f"bad date {text!r}") from None
