"""Property tests of every ingest parser (Hypothesis): real records with fields replaced by any
JSON or text, arbitrary lines and XML. A parser returns its record or raises its own error;
an import never crashes, lists what it refused, and stores exactly the records it accepted (on
SQLite and PostgreSQL, which refuses NUL in text)."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from conftest import ARXIV_JSONL
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import select
from support.accounts import DAY_FILES

from paperfeed.domain import DailyEntry, Paper
from paperfeed.ingest import arxiv_api, arxiv_jsonl, hf_daily, oai, safe_xml
from paperfeed.ingest.http import PoliteClient, RemoteError
from paperfeed.store.db import Database
from paperfeed.store.models import PaperRow
from paperfeed.store.writer import save_papers

# Examples per property: enough to reach odd corners, few enough for a CI run (~20 s here).
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
_names = itertools.count()
DAY = date(2025, 10, 2)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62)
    | st.floats()
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
HF_ENTRY = json.loads(DAY_FILES[0].read_text())[0]
with gzip.open(ARXIV_JSONL, "rt") as _snapshot:
    JSONL_RECORD = json.loads(_snapshot.readline())


@st.composite
def mutated(draw: st.DrawFn, record: dict, nested: str | None = None) -> Any:
    """`record` with a few fields (top level, or of `record[nested]`) replaced, dropped or
    given as text; sometimes not an object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    out = json.loads(json.dumps(record))
    for _ in range(draw(st.integers(1, 3))):
        target = out.get(nested) if nested and draw(st.booleans()) else out
        if not isinstance(target, dict):
            continue
        key = draw(st.sampled_from([*sorted(target), "extra"]))
        action = draw(st.sampled_from(["json", "text", "drop"]))
        if action == "drop":
            target.pop(key, None)
        else:
            target[key] = draw(JSON if action == "json" else st.text())
    return out


def _ids(db: Database) -> set[str]:
    with db.sessions() as session:
        return set(session.scalars(select(PaperRow.id)))


# --- Hugging Face daily JSON ---


@SETTINGS
@given(raw=mutated(HF_ENTRY, "paper"))
def test_hf_entry_parses_or_is_malformed(raw: Any) -> None:
    try:
        entry = hf_daily.parse_entry(raw)
    except hf_daily.MalformedEntry as error:
        assert str(error)
    else:
        assert isinstance(entry, DailyEntry) and entry.paper.title


@SETTINGS
@given(entries=st.lists(mutated(HF_ENTRY, "paper"), max_size=4), junk=st.binary(max_size=40))
def test_hf_import_stores_what_it_accepts(
    db: Database, tmp_path: Path, entries: list[Any], junk: bytes
) -> None:
    for entry in entries:  # distinct ids, so each entry is its own paper
        if isinstance(entry, dict) and isinstance(entry.get("paper"), dict):
            entry["paper"].setdefault("id", "")
            if entry["paper"]["id"] == HF_ENTRY["paper"]["id"]:
                entry["paper"]["id"] = f"2510.{90000 + next(_names) % 9999:05d}"
    accepted = set()
    for entry in entries:
        with contextlib.suppress(hf_daily.MalformedEntry):
            accepted.add(hf_daily.parse_entry(entry, DAY).paper.arxiv_id)
    path = tmp_path / f"{DAY}.{next(_names)}.json"  # the name gives the day
    path.write_text(json.dumps(entries))
    before = _ids(db)
    report = hf_daily.import_paths(db, [path])
    assert _ids(db) - before == accepted - before
    assert report.ok == (len(report.rejected) == 0)
    # Bytes that are not JSON are one rejected file, and store nothing. ("[" and the junk can
    # happen to be JSON: b"]" makes an empty list, which hypothesis found.)
    raw = b"[" + junk
    try:
        json.loads(raw)
    except ValueError:
        pass
    else:
        return
    bad = tmp_path / f"bad.{next(_names)}.json"
    bad.write_bytes(raw)
    after = _ids(db)
    assert not hf_daily.import_paths(db, [bad]).ok
    assert _ids(db) == after


# --- arXiv JSON lines ---


@SETTINGS
@given(raw=mutated(JSONL_RECORD))
@example(raw={**JSONL_RECORD, "title": "\x1b"})  # control characters alone: no title once cleaned
def test_jsonl_record_parses_or_is_malformed(raw: Any) -> None:
    try:
        paper = arxiv_jsonl.parse_record(raw)
    except arxiv_jsonl.MalformedRecord as error:
        assert str(error)
    else:
        assert isinstance(paper, Paper) and paper.title


@SETTINGS
@given(
    lines=st.lists(
        st.one_of(mutated(JSONL_RECORD).map(lambda r: json.dumps(r).encode()), st.binary()),
        max_size=5,
    ),
    gz=st.booleans(),
    cut=st.integers(0, 40),
)
def test_jsonl_import_stores_what_it_accepts(
    db: Database, tmp_path: Path, lines: list[bytes], gz: bool, cut: int
) -> None:
    lines = [line.replace(b"\n", b" ") for line in lines]
    accepted = set()
    for line in lines:
        with contextlib.suppress(ValueError):  # not UTF-8, not JSON, or a MalformedRecord
            accepted.add(arxiv_jsonl.parse_record(json.loads(line.decode())).arxiv_id)
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / f"snapshot-{next(_names)}.jsonl"
    if gz:  # a truncated .gz is read up to where it breaks, and says so
        path = path.with_suffix(".jsonl.gz")
        data = gzip.compress(data)
        data = data[: len(data) - cut] if cut else data
    path.write_bytes(data)
    before = _ids(db)
    report = arxiv_jsonl.import_file(db, path, restart=True)
    stored = _ids(db) - before
    if gz and cut:
        assert stored <= accepted - before and not report.ok
    else:
        assert stored == accepted - before


# --- OAI-PMH XML ---

OAI_FIELDS = ["id", "title", "abstract", "categories", "created", "updated", "doi", "comments"]
XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=30)


@st.composite
def oai_page(draw: st.DrawFn) -> bytes:
    """A ListRecords response: records with any text in their fields, a token, maybe an error;
    sometimes cut short or with a byte changed."""
    records = []
    for _ in range(draw(st.integers(0, 3))):
        fields = draw(st.dictionaries(st.sampled_from(OAI_FIELDS), XML_TEXT))
        if draw(st.booleans()):
            fields["id"] = draw(st.sampled_from(["2510.01141", "hep-th/9901001", "2510.1"]))
        inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
        authors = "".join(
            f"<author><keyname>{escape(k)}</keyname><forenames>{escape(f)}</forenames></author>"
            for k, f in draw(st.lists(st.tuples(XML_TEXT, XML_TEXT), max_size=2))
        )
        status = ' status="deleted"' if draw(st.integers(0, 5)) == 0 else ""
        stamp = escape(draw(st.sampled_from(["2025-10-02", "", "2025-13-45"]) | XML_TEXT))
        records.append(
            f"<record><header{status}><identifier>oai:arXiv.org:x</identifier>"
            f"<datestamp>{stamp}</datestamp></header><metadata>"
            f'<arXiv xmlns="http://arxiv.org/OAI/arXiv/">{inner}<authors>{authors}</authors>'
            "</arXiv></metadata></record>"
        )
    size = draw(st.sampled_from(["", ' completeListSize="12"', ' completeListSize="x"']))
    token = f"<resumptionToken{size}>{escape(draw(XML_TEXT))}</resumptionToken>"
    error = draw(st.sampled_from(["", '<error code="badArgument">no</error>']))
    body = (
        '<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        f"{error}<ListRecords>{''.join(records)}{token}</ListRecords></OAI-PMH>"
    ).encode()
    damage = draw(st.integers(0, 5))
    if damage == 0:
        body = body[: draw(st.integers(0, len(body)))]
    elif damage == 1:
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]
    return body


@SETTINGS
@given(body=oai_page())
def test_oai_page_parses_or_is_a_remote_error(db: Database, body: bytes) -> None:
    try:
        root = safe_xml.parse(body)
        page = oai._read_page(root, "test")
    except (etree.XMLSyntaxError, RemoteError):  # OaiError is a RemoteError
        return
    state = oai._fresh_state()
    papers = oai._papers_of(page, state, oai.HarvestReport())
    assert len(papers) + len(state["rejected"]) <= len(page.records)
    assert all(reason for _where, reason in state["rejected"])
    with db.transaction() as session:  # what parsed is storable on either database
        save_papers(session, papers)
    assert {p.arxiv_id for p in papers} <= _ids(db)


# --- arXiv API Atom, over a loopback server ---


class _Answers(ThreadingHTTPServer):
    """Answers every GET with `body`."""

    body = b""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/atom+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def atom_server() -> Iterator[_Answers]:
    server = _Answers()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@st.composite
def atom_feed(draw: st.DrawFn) -> bytes:
    fields = {
        "id": draw(
            st.sampled_from(["http://arxiv.org/abs/2510.01141v2", "http://arxiv.org/api/errors"])
            | XML_TEXT
        ),
        "title": draw(XML_TEXT),
        "summary": draw(XML_TEXT),
        "published": draw(st.sampled_from(["2025-10-01T17:59:59Z", "2025-02-30T00:00:00Z"])),
        "updated": draw(XML_TEXT),
    }
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    inner += "".join(
        f"<author><name>{escape(n)}</name></author>" for n in draw(st.lists(XML_TEXT, max_size=2))
    )
    term = escape(draw(XML_TEXT), {'"': "&quot;"})
    inner += f'<arxiv:primary_category term="{term}"/><category term="cs.LG"/>'
    body = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">'
        f"<entry>{inner}</entry></feed>"
    ).encode()
    if draw(st.integers(0, 4)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    return body


@SETTINGS
@given(body=atom_feed())
def test_arxiv_api_answer_is_a_paper_none_or_a_remote_error(
    atom_server: _Answers, body: bytes
) -> None:
    atom_server.body = body
    url = f"http://127.0.0.1:{atom_server.server_address[1]}/api/query"
    with PoliteClient(delay_s=0, timeout_s=5, retries=0) as client:
        try:
            paper = arxiv_api.fetch_paper(client, url, "2510.01141")
        except RemoteError as error:
            assert str(error)
            return
    assert paper is None or (paper.arxiv_id == "2510.01141" and paper.title)



# What the properties found, kept as plain tests.


def test_nul_in_a_listing_is_dropped_not_a_failed_import(db: Database, tmp_path: Path) -> None:
    """PostgreSQL refused the whole file: "text fields cannot contain NUL (0x00) bytes"."""
    entry = json.loads(json.dumps(HF_ENTRY))
    entry["paper"]["title"] = "Null\x00 and\x07 bell"
    entry["paper"]["authors"][0]["name"] = "Fang\x00 Wu"
    path = tmp_path / f"{DAY}.json"
    path.write_text(json.dumps([entry]))
    assert hf_daily.import_paths(db, [path]).ok
    with db.sessions() as session:
        row = session.get(PaperRow, entry["paper"]["id"])
        assert row is not None and row.title == "Null and bell"


def test_a_snapshot_field_of_the_wrong_type_is_malformed() -> None:
    """`"categories": true` raised AttributeError out of the import."""
    for key in ("categories", "authors"):
        record = {**JSONL_RECORD, key: True}
        record.pop("authors_list", None)
        with pytest.raises(arxiv_jsonl.MalformedRecord, match=f"{key} is a JSON bool, not text"):
            arxiv_jsonl.parse_record(record)


def test_snapshot_lines_that_are_not_utf8_are_rejected(db: Database, tmp_path: Path) -> None:
    """A \\x80 byte raised UnicodeDecodeError out of the import, and a line starting with NUL
    bytes was decoded as UTF-32 (json.loads guesses the encoding of bytes)."""
    path = tmp_path / "snapshot.jsonl"
    path.write_bytes(b"\x80\n\x00\x00\x00{\n" + json.dumps(JSONL_RECORD).encode() + b"\n")
    report = arxiv_jsonl.import_file(db, path)
    problems = [r.problem for r in report.rejected]
    assert problems == ["not UTF-8 text", "not valid JSON (Expecting value)"]
    assert JSONL_RECORD["id"] in _ids(db)
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(b"")
    assert not arxiv_jsonl.import_file(db, empty).ok  # was read as a file of no lines


def test_an_arxiv_answer_with_a_bad_id_is_a_remote_error(atom_server: _Answers) -> None:
    """It was InvalidArxivId, which the submission shows as a 404 for the submitter's id."""
    atom_server.body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>nonsense</id>'
        b"<title>T</title></entry></feed>"
    )
    url = f"http://127.0.0.1:{atom_server.server_address[1]}/api/query"
    with (
        PoliteClient(delay_s=0, timeout_s=5, retries=0) as client,
        pytest.raises(RemoteError, match="an entry with the id 'nonsense'"),
    ):
        arxiv_api.fetch_paper(client, url, "2510.01141")
