"""`paperfeed backup` and `restore`: a site with every kind of state, backed up, restored into a
fresh home and database (SQLite, PostgreSQL, SQLite to PostgreSQL), compared table by table and
answer by answer; the search index is rebuilt and a non-empty target is refused without --force."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from conftest import POSTGRES_URL, _fresh_postgres_database
from fastapi.testclient import TestClient
from sqlalchemy import select
from support.accounts import DAYS, import_days, make_user
from typer.testing import CliRunner

from paperfeed import cli
from paperfeed.community import accounts
from paperfeed.core.secrets import SECRET_CHECKPOINT, site_secret
from paperfeed.digest import subscriptions
from paperfeed.digest.subscriptions import Interests
from paperfeed.rank import dismissals, follows
from paperfeed.search.indexer import update_indexes
from paperfeed.search.vectors.store import save_embeddings
from paperfeed.settings import Settings, get_settings
from paperfeed.store.backup import SKIPPED_TABLES
from paperfeed.store.db import Database
from paperfeed.store.models import Base, PaperRow
from paperfeed.web.app import create_app

QUERIES = ["diffusion", "reinforcement learning", "video generation"]


@pytest.fixture
def new_url(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A function: the URL of a new empty database of a kind ('sqlite' or 'postgresql')."""
    with ExitStack() as stack:
        made = 0

        def make(kind: str) -> str:
            nonlocal made
            made += 1
            if kind == "sqlite":
                return f"sqlite:///{tmp_path / f'site{made}.db'}"
            if not POSTGRES_URL:
                pytest.skip("PostgreSQL tests need PAPERFEED_TEST_POSTGRES_URL (see .ci/run)")
            return stack.enter_context(_contextual(_fresh_postgres_database()))

        yield make


class _contextual:
    """A one-value generator (the conftest's database maker) as a context manager."""

    def __init__(self, generator: Iterator[str]) -> None:
        self._generator = generator

    def __enter__(self) -> str:
        return next(self._generator)

    def __exit__(self, *exc: object) -> None:
        next(self._generator, None)


def _settings(url: str, home: Path) -> Settings:
    return Settings(database_url=url, home=home, search_dense=False, base_url="http://pf.test")


def _cli(url: str, home: Path, *args: str):
    env = {
        "PAPERFEED_DATABASE_URL": url,
        "PAPERFEED_HOME": str(home),
        "PAPERFEED_SEARCH_DENSE": "false",
        "PAPERFEED_BASE_URL": "http://pf.test",
    }
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli.app, list(args), env=env)
    finally:
        get_settings.cache_clear()


def _populate(db: Database, settings: Settings) -> dict[str, object]:
    """Papers, accounts, tokens, sessions, votes, comments, collections, follows, dismissals,
    digest subscriptions, embeddings and rate-limit rows, made through the API and services."""
    import_days(db)
    site_secret(settings)  # the data folder's secret_key
    (settings.home / "paperfeed.toml").write_text('site_name = "lab papers"\n')
    with db.sessions() as session:
        papers = list(session.scalars(select(PaperRow.id).order_by(PaperRow.id).limit(12)))
    tokens = {}
    for name in ("alice", "bob"):
        user = make_user(db, name)
        with db.transaction() as session:
            tokens[name] = accounts.create_token(session, user, "backup test").secret
            accounts.start_session(session, user, days=14)
            follows.follow(session, user, "category", "cs.CL")
            dismissals.dismiss(session, user, papers[-1])
            row = subscriptions.request(
                session, f"{name}@example.org", "daily", Interests(keywords=["agents"]),
                user_id=user.id,
            )  # fmt: skip
            subscriptions.confirm(session, row)
    with db.transaction() as session:
        vectors = [(p, f"hash-{p}", np.linspace(0, 1, 8, dtype=np.float32) + i) for i, p in
                   enumerate(papers)]  # fmt: skip
        save_embeddings(session, "static", vectors)
    update_indexes(db, settings)
    collection_ids = []
    with TestClient(create_app(settings, db)) as client:
        for n, (name, secret) in enumerate(tokens.items()):
            auth = {"Authorization": f"Bearer {secret}"}
            for paper in papers[n : n + 4]:
                assert client.post(f"/api/papers/{paper}/upvote", headers=auth).status_code == 200
                response = client.post(
                    f"/api/papers/{paper}/comments",
                    headers=auth,
                    json={"body": f"**{name}** read [this](https://arxiv.org/abs/{paper}) é"},
                )
                assert response.status_code == 201, response.text
            response = client.post(
                "/api/collections", headers=auth, json={"name": f"{name}'s reading", "public": True}
            )
            assert response.status_code == 201, response.text
            collection_id = response.json()["id"]
            collection_ids.append(collection_id)
            for paper in papers[n + 4 : n + 7]:
                response = client.post(
                    f"/api/collections/{collection_id}/papers", headers=auth,
                    json={"paperId": paper},
                )  # fmt: skip
                assert response.status_code in (200, 201), response.text
    return {"papers": papers, "tokens": tokens, "collections": collection_ids}


def _rows(db: Database) -> dict[str, list[tuple]]:
    """Every row of every table the models define, in primary-key order, ids included."""
    result = {}
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in SKIPPED_TABLES:
                continue
            order = list(table.primary_key.columns)
            result[table.name] = [tuple(row) for row in connection.execute(
                select(table).order_by(*order))]  # fmt: skip
    # The site secret is a row on PostgreSQL and a file on SQLite: compared through site_secret
    result["checkpoints"] = [r for r in result["checkpoints"] if r[0] != SECRET_CHECKPOINT]
    return result


def _answers(db: Database, settings: Settings, state: dict) -> dict[str, object]:
    """What the site answers to the API and a few pages, anonymously and with a token."""
    papers, collections = state["papers"], state["collections"]
    paths = [f"/api/daily_papers?date={day}" for day in DAYS]
    paths += [f"/api/papers/search?q={q}" for q in QUERIES]
    paths += [f"/api/papers/{p}" for p in papers[:5]] + [
        f"/api/papers/{p}/comments" for p in papers[:5]
    ]
    paths += [f"/api/collections/{c}" for c in collections] + ["/api/users/alice/collections"]
    paths += [f"/collections/{c}.bib" for c in collections] + ["/papers/feed.atom"]
    answers: dict[str, object] = {}
    with TestClient(create_app(settings, db)) as client:
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:300])
            answers[path] = response.json() if path.startswith("/api/") else response.text
        auth = {"Authorization": f"Bearer {state['tokens']['alice']}"}
        answers["alice's recommendations"] = client.get("/api/recommendations", headers=auth).json()
    return answers


@pytest.mark.parametrize(
    ("source", "target"),
    [("sqlite", "sqlite"), ("postgresql", "postgresql"), ("sqlite", "postgresql")],
)
def test_backup_then_restore_gives_the_same_site(
    source: str, target: str, new_url: Callable[[str], str], tmp_path: Path
) -> None:
    source_url, source_home = new_url(source), tmp_path / "source-home"
    source_settings = _settings(source_url, source_home)
    source_settings.ensure_home()
    with Database(source_url) as db:
        state = _populate(db, source_settings)
        update_indexes(db, source_settings, rebuild=True)  # the same index layout as a restore's
        answers_before = _answers(db, source_settings, state)
        before = _rows(db)
    assert all(before[t] for t in ("upvotes", "comments", "collection_papers", "subscriptions",
                                   "api_tokens", "login_sessions", "follows", "dismissals",
                                   "paper_embeddings", "rate_limits"))  # fmt: skip

    archive = tmp_path / "site.tar.gz"
    result = _cli(source_url, source_home, "backup", str(archive))
    assert result.exit_code == 0, result.output
    assert archive.stat().st_mode & 0o077 == 0  # the archive holds password hashes: 0600

    target_url, target_home = new_url(target), tmp_path / "restored-home"
    result = _cli(target_url, target_home, "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert "search indexes rebuilt" in result.output
    # the same site secret, wherever each database keeps it (file on SQLite, row on PostgreSQL)
    assert site_secret(_settings(target_url, target_home)) == site_secret(source_settings)
    assert (target_home / "paperfeed.toml").read_text() == 'site_name = "lab papers"\n'
    assert not (target_home / "index").samefile(source_home / "index")

    target_settings = _settings(target_url, target_home)
    with Database(target_url) as db:
        after = _rows(db)
        assert after.keys() == before.keys()
        for table in before:
            assert after[table] == before[table], table
        assert _answers(db, target_settings, state) == answers_before
        assert _rows(db) != before  # the answers counted in the rate limits (the store is live)
        # The restored site takes new writes: ids go on past the restored ones (PostgreSQL's
        # sequences were moved), and the restored token and its rate limits still work.
        with TestClient(create_app(target_settings, db)) as client:
            auth = {"Authorization": f"Bearer {state['tokens']['bob']}"}
            response = client.post(
                f"/api/papers/{state['papers'][0]}/comments", headers=auth, json={"body": "new"}
            )
            assert response.status_code == 201, response.text
            assert response.json()["id"] > max(row[0] for row in before["comments"])
            response = client.post("/api/collections", headers=auth, json={"name": "after"})
            assert response.status_code == 201, response.text

    # A database or data folder holding data is not overwritten without --force.
    result = _cli(target_url, target_home, "restore", str(archive))
    assert result.exit_code == 1
    assert "not empty" in result.output and "--force" in result.output
    result = _cli(target_url, target_home, "restore", "--force", str(archive))
    assert result.exit_code == 0, result.output
    with Database(target_url) as db:
        assert _rows(db) == before


def test_restore_refuses_what_is_no_backup(tmp_path: Path, sqlite_url: str) -> None:
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(os.urandom(2000))
    result = _cli(sqlite_url, tmp_path / "home", "restore", str(bogus))
    assert result.exit_code == 1 and "not a paperfeed backup" in result.output
