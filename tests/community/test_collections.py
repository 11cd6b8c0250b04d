"""The collections service on both databases: owners' changes, every refusal, BibTeX export."""

from __future__ import annotations

import json

import bibtexparser
import pytest
from conftest import HF_API_DIR
from support.accounts import make_user

from paperfeed.community import accounts
from paperfeed.community import collections as col
from paperfeed.community.collections import (
    CollectionForbidden,
    CollectionNotFound,
    InvalidCollection,
)
from paperfeed.domain import InvalidArxivId, PaperNotFound
from paperfeed.store import reader
from paperfeed.store.db import Database
from paperfeed.store.models import UserRow

DAY = HF_API_DIR / "2025-10-03.json"  # one of the lists data_db holds


@pytest.fixture
def users_db(data_db: Database) -> Database:
    """Both databases holding real daily lists, and two accounts, alice and bob."""
    make_user(data_db, "alice")
    make_user(data_db, "bob")
    return data_db


def _user(db: Database, name: str) -> UserRow:
    with db.sessions() as session:
        user = accounts.get_user(session, name)
    assert user is not None
    return user


def _day_ids() -> list[str]:
    return [entry["paper"]["id"] for entry in json.loads(DAY.read_text())]


def test_an_owner_makes_fills_renames_publishes_and_deletes_a_collection(
    users_db: Database,
) -> None:
    alice = _user(users_db, "alice")
    ids = _day_ids()[:3]

    with users_db.transaction() as session:
        made = col.create(session, alice, "  Reading   list ")
        added = [col.add_paper(session, alice, made.id, paper_id) for paper_id in ids]
        again = col.add_paper(session, alice, made.id, f"{ids[0]}v2")  # a version: same paper
        removed = col.remove_paper(session, alice, made.id, ids[1])
        removed_again = col.remove_paper(session, alice, made.id, ids[1])
    with users_db.transaction() as session:
        renamed = col.rename(session, alice, made.id, "Diffusion")
        public = col.set_public(session, alice, made.id, True)
    with users_db.sessions() as session:
        shown = col.page(session, alice, made.id)
        mine = col.collections_of(session, alice, alice)
        saved = col.saved_in(session, alice, ids)

    assert made.name == "Reading list" and not made.is_public and made.owner == "alice"
    assert added == [True, True, True] and again is False
    assert removed is True and removed_again is False
    assert renamed.name == "Diffusion" and public.is_public
    assert shown.collection.size == shown.total == 2
    assert {item.paper.arxiv_id for item in shown.items} == {ids[0], ids[2]}
    assert shown.items[0].paper.arxiv_id == ids[2]  # latest saved first
    assert [c.name for c in mine] == ["Diffusion"]
    assert saved == {ids[0]: {made.id}, ids[1]: set(), ids[2]: {made.id}}

    with users_db.sessions() as session:
        pages = [col.page(session, alice, made.id, page=n, page_size=1) for n in (1, 2, 3)]
    assert [[i.paper.arxiv_id for i in p.items] for p in pages] == [[ids[2]], [ids[0]], []]
    assert pages[0].pages == 2

    with users_db.transaction() as session:
        col.delete_collection(session, alice, made.id)
    with users_db.sessions() as session:
        with pytest.raises(CollectionNotFound):
            col.get(session, alice, made.id)
        assert reader.get_paper(session, ids[0]) is not None  # the papers stay


BAD_NAMES = [
    ("   ", "Give the collection a name"),
    ("x" * 101, "at most 100 characters"),
    ("bell\x07", "control characters"),
    ("Mine", "already have a collection named 'Mine'"),
]


def test_bad_names_are_refused_with_a_clear_message(users_db: Database) -> None:
    alice = _user(users_db, "alice")
    with users_db.transaction() as session:
        col.create(session, alice, "Mine")
        other = col.create(session, alice, "Other")

    for name, message in BAD_NAMES:
        with pytest.raises(InvalidCollection, match=message), users_db.transaction() as session:
            col.create(session, alice, name)
        with pytest.raises(InvalidCollection, match=message), users_db.transaction() as session:
            col.rename(session, alice, other.id, name)
    with users_db.sessions() as session:
        names = sorted(c.name for c in col.collections_of(session, alice, alice))
    assert names == ["Mine", "Other"]  # nothing was lost or half-changed


def test_two_users_may_use_the_same_name_and_a_name_can_be_reused_after_deleting(
    users_db: Database,
) -> None:
    alice, bob = _user(users_db, "alice"), _user(users_db, "bob")

    with users_db.transaction() as session:
        first = col.create(session, alice, "Favourites")
        col.create(session, bob, "Favourites")
        col.delete_collection(session, alice, first.id)
        again = col.create(session, alice, "Favourites")

    assert again.name == "Favourites" and again.id != first.id


def test_saving_an_unknown_or_malformed_paper_is_refused(users_db: Database) -> None:
    alice = _user(users_db, "alice")
    with users_db.transaction() as session:
        made = col.create(session, alice, "Mine")

    with pytest.raises(PaperNotFound), users_db.transaction() as session:
        col.add_paper(session, alice, made.id, "2599.99999")
    with pytest.raises(InvalidArxivId), users_db.transaction() as session:
        col.add_paper(session, alice, made.id, "<script>")
    with users_db.sessions() as session:
        assert col.get(session, alice, made.id).size == 0


def test_a_private_collection_does_not_exist_for_anyone_else(users_db: Database) -> None:
    alice, bob = _user(users_db, "alice"), _user(users_db, "bob")
    paper_id = _day_ids()[0]
    with users_db.transaction() as session:
        private = col.create(session, alice, "Secret")
        col.add_paper(session, alice, private.id, paper_id)
    missing = private.id + 1000

    refusals = {
        "get": lambda s, who, cid: col.get(s, who, cid),
        "page": lambda s, who, cid: col.page(s, who, cid),
        "papers": lambda s, who, cid: col.papers(s, who, cid),
        "bibtex": lambda s, who, cid: col.bibtex_of(s, who, cid),
        "rename": lambda s, who, cid: col.rename(s, who, cid, "Mine now"),
        "publish": lambda s, who, cid: col.set_public(s, who, cid, True),
        "delete": lambda s, who, cid: col.delete_collection(s, who, cid),
        "add": lambda s, who, cid: col.add_paper(s, who, cid, _day_ids()[1]),
        "remove": lambda s, who, cid: col.remove_paper(s, who, cid, paper_id),
    }
    for action, call in refusals.items():
        viewers = [bob, None] if action in ("get", "page", "papers", "bibtex") else [bob]
        for viewer in viewers:
            errors = []
            for collection_id in (private.id, missing):  # an id guess learns nothing
                with pytest.raises(CollectionNotFound) as caught, users_db.transaction() as session:
                    call(session, viewer, collection_id)
                errors.append(str(caught.value).replace(str(collection_id), "N"))
            assert errors[0] == errors[1], action

    with users_db.sessions() as session:
        kept = col.page(session, alice, private.id)
        assert col.collections_of(session, alice, bob) == []
        assert col.collections_of(session, alice, None) == []
    assert kept.collection.name == "Secret" and not kept.collection.is_public
    assert [item.paper.arxiv_id for item in kept.items] == [paper_id]


def test_a_public_collection_is_read_by_anyone_and_changed_by_its_owner_only(
    users_db: Database,
) -> None:
    alice, bob = _user(users_db, "alice"), _user(users_db, "bob")
    paper_id = _day_ids()[0]
    with users_db.transaction() as session:
        public = col.create(session, alice, "Open", public=True)
        col.add_paper(session, alice, public.id, paper_id)

    with users_db.sessions() as session:
        for viewer in (bob, None):
            assert [p.paper.arxiv_id for p in col.papers(session, viewer, public.id)] == [paper_id]
        assert [c.name for c in col.collections_of(session, alice, None)] == ["Open"]
    changes = [
        lambda s: col.rename(s, bob, public.id, "Bob's"),
        lambda s: col.set_public(s, bob, public.id, False),
        lambda s: col.delete_collection(s, bob, public.id),
        lambda s: col.add_paper(s, bob, public.id, _day_ids()[1]),
        lambda s: col.remove_paper(s, bob, public.id, paper_id),
    ]
    for change in changes:
        with pytest.raises(CollectionForbidden), users_db.transaction() as session:
            change(session)

    with users_db.sessions() as session:
        after = col.page(session, None, public.id)
    assert after.collection.name == "Open" and after.collection.is_public
    assert [item.paper.arxiv_id for item in after.items] == [paper_id]


def test_the_bibtex_export_parses_and_cites_every_paper(users_db: Database) -> None:
    alice = _user(users_db, "alice")
    entries = {e["paper"]["id"]: e["paper"] for e in json.loads(DAY.read_text())}
    with users_db.transaction() as session:
        made = col.create(session, alice, "Cite these")
        for paper_id in entries:
            col.add_paper(session, alice, made.id, paper_id)

    with users_db.sessions() as session:
        text = col.bibtex_of(session, alice, made.id)
    parsed = bibtexparser.loads(text)

    assert {entry["ID"] for entry in parsed.entries} == set(entries)
    for entry in parsed.entries:
        paper = entries[entry["ID"]]
        assert entry["ENTRYTYPE"] == "misc"
        assert entry["eprint"] == paper["id"]
        assert entry["title"] == " ".join(paper["title"].split())
        assert entry["author"].split(" and ")[0] == paper["authors"][0]["name"]


def test_a_deleted_account_takes_its_collections_with_it(users_db: Database) -> None:
    alice = _user(users_db, "alice")
    with users_db.transaction() as session:
        made = col.create(session, alice, "Gone soon")
        col.add_paper(session, alice, made.id, _day_ids()[0])

    with users_db.transaction() as session:
        session.delete(session.get(UserRow, alice.id))

    with users_db.sessions() as session, pytest.raises(CollectionNotFound):
        col.get(session, None, made.id)
