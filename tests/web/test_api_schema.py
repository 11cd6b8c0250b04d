"""Schema-driven API tests: schemathesis generates requests from /openapi.json and sends them to a
live server on loopback, anonymously and with a Bearer token, on SQLite and PostgreSQL.

Every answer must be below 500 and match the schema of its operation (status code, content type,
body). The token run pins path parameters to real ids (a stored paper, the token owner's
collection and name) so the writes get past the 404s. Bounded: a few examples per operation and
a Hypothesis deadline, about a minute for the file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from conftest import POSTGRES_URL, _fresh_postgres_database
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import unsupported_method
from support.accounts import import_days, make_user
from support.live_server import LiveServer

from paperfeed.community import accounts, collections
from paperfeed.search.indexer import update_indexes
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

PAPER = "2510.01141"  # on the 2 October 2025 list (support.accounts.DAYS)
MAX_EXAMPLES = 12
# Unpinned generation reaches every path with made-up ids; the token run writes for real.
LIMITS = {name: "100000/1m" for name in ("vote.user", "vote.addr", "comment.user", "comment.addr")}


class _Site:
    """A live site on one database, with a user, a token and a collection of that user."""

    def __init__(self, database_url: str, home: Path) -> None:
        self.db = Database(database_url)
        import_days(self.db)
        user = make_user(self.db, "fuzzer")
        with self.db.transaction() as session:
            self.token = accounts.create_token(session, user, "schemathesis").secret
            self.collection_id = collections.create(session, user, "fuzzed", public=True).id
        assert self.collection_id == 1  # the id the token run pins
        settings = Settings(
            database_url=database_url,
            home=home,
            base_url="http://127.0.0.1",
            search_dense=False,
            embed_in_background=False,
            rate_limits=LIMITS,
            arxiv_api_url="http://127.0.0.1:9/api/query",  # closed port: fetches fail at once
        )
        update_indexes(self.db, settings)
        self.server = LiveServer(create_app(settings, self.db)).__enter__()

    def close(self) -> None:
        self.server.__exit__(None, None, None)
        self.db.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Site]:
    home = tmp_path_factory.mktemp("schemathesis-home")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'paperfeed.db'}"
        urls: Iterator[str] = iter([url])
    else:
        if not POSTGRES_URL:
            pytest.skip("PostgreSQL tests need PAPERFEED_TEST_POSTGRES_URL (see .ci/run)")
        urls = _fresh_postgres_database()
    url = next(urls)
    site = _Site(url, home)
    yield site
    site.close()
    next(urls, None)  # drops the PostgreSQL database


def _schema(**extra: object):
    """The app's own /openapi.json (it does not depend on the database) with bounded generation."""
    # At import, before any fixture: a home of its own, not ./paperfeed-data (the secret key).
    home = Path(tempfile.mkdtemp(prefix="paperfeed-openapi-"))
    app = create_app(Settings(database_url="sqlite://", home=home, embed_in_background=False))
    config = schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES},
            "seed": 13,
            "checks": {
                # Rules the schema cannot state answer 422 to schema-valid requests: at most one
                # of date, week and month; a paper id that is not arXiv's; a collection name
                # already used; a PATCH that changes nothing.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
                },
                # Each method of a path is its own Starlette route, so a 405 lists in Allow only
                # the methods of the first route that matched (POST, not DELETE, for .../upvote).
                "allow_header_conformance": {"enabled": False},
            },
            **extra,
        }
    )
    return schemathesis.openapi.from_dict(app.openapi(), config=config)


# A fresh database gives the token owner's collection the id 1.
anonymous = _schema()
pinned = _schema(
    parameters={"path.arxiv_id": PAPER, "path.collection_id": 1, "path.username": "fuzzer"}
)
_HYPOTHESIS = settings(
    deadline=5000, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


@anonymous.parametrize()
@_HYPOTHESIS
def test_anonymous_requests(case, site: _Site) -> None:
    case.call_and_validate(base_url=site.server.url, excluded_checks=_not_expressible(case))


@pinned.parametrize()
@_HYPOTHESIS
def test_requests_with_a_token(case, site: _Site) -> None:
    case.call_and_validate(
        base_url=site.server.url,
        headers={"Authorization": f"Bearer {site.token}"},
        excluded_checks=_not_expressible(case),
    )


def _not_expressible(case) -> list:
    """GET /api/papers/{id}/upvote (or DELETE .../comments) reaches GET /api/papers/{id:path},
    which takes any id (old-style ids hold a slash) and answers 404 for it, not 405."""
    return [unsupported_method] if case.path.startswith("/api/papers/{arxiv_id}/") else []


# What schemathesis found, kept as plain tests.


def test_public_must_be_a_json_boolean(site: _Site) -> None:
    """`{"name": "0", "public": 0}` made a collection: pydantic read 0 as false."""
    auth = {"Authorization": f"Bearer {site.token}"}
    for body in ({"name": "n", "public": 0}, {"name": "n", "public": "yes"}):
        made = httpx.post(f"{site.server.url}/api/collections", json=body, headers=auth)
        changed = httpx.patch(f"{site.server.url}/api/collections/1", json=body, headers=auth)
        assert made.status_code == changed.status_code == 422, (made.text, changed.text)
        assert "public" in made.json()["error"]


def test_text_that_is_no_arxiv_id_is_the_documented_422(site: _Site) -> None:
    """POST /api/papers/submit documents 422 "Not an arXiv id"; it answered 400."""
    answer = httpx.post(
        f"{site.server.url}/api/papers/submit",
        json={"paper_id": "0" * 300},
        headers={"Authorization": f"Bearer {site.token}"},
    )
    assert answer.status_code == 422 and "is not an arXiv id" in answer.json()["error"]


def test_an_undecodable_body_is_a_documented_400(site: _Site) -> None:
    """FastAPI answers 400 to a body that is not UTF-8; the schema did not say so."""
    answer = httpx.post(
        f"{site.server.url}/api/collections",
        content=b".\xffx",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {site.token}"},
    )
    assert answer.status_code == 400 and answer.json() == {
        "error": "There was an error parsing the body"
    }
    documented = httpx.get(f"{site.server.url}/openapi.json").json()["paths"]
    for path, method in [
        ("/api/collections", "post"),
        ("/api/collections/{collection_id}", "patch"),
        ("/api/collections/{collection_id}/papers", "post"),
        ("/api/papers/{arxiv_id}/comments", "post"),
        ("/api/papers/submit", "post"),
    ]:
        assert "400" in documented[path][method]["responses"], (method, path)
