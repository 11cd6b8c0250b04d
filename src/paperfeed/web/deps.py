"""FastAPI dependencies: the request's database session, settings, templates and search indexes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from paperfeed.rank.recommend import Recommender
from paperfeed.search.service import SearchIndexes
from paperfeed.settings import Settings
from paperfeed.store.db import DatabaseUnavailable
from paperfeed.store.paper_cache import PaperCache


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request, closed when the response is done."""
    session = request.app.state.db.sessions()
    try:
        yield session
    finally:
        # Closing rolls back; on a connection the server dropped after the answer was sent
        # that fails, and there is nothing to undo (writes commit in db.transaction()).
        with suppress(DatabaseUnavailable):
            session.close()


def app_settings(request: Request) -> Settings:
    """The settings the application was made with."""
    return request.app.state.settings


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


def search_indexes(request: Request) -> SearchIndexes:
    """The application's open search indexes, opened on first use."""
    state = request.app.state
    if getattr(state, "search_indexes", None) is None:
        state.search_indexes = SearchIndexes(state.settings, papers=state.db.papers)
    return state.search_indexes


def paper_cache(request: Request) -> PaperCache:
    """The process's cache of stored papers (one per open database), kept per site version."""
    return request.app.state.db.papers


def get_recommender(request: Request) -> Recommender:
    """The application's recommender (its caches live as long as the process)."""
    state = request.app.state
    if getattr(state, "recommender", None) is None:
        state.recommender = Recommender(state.settings)
    return state.recommender


DbSession = Annotated[Session, Depends(get_session)]
AppSettings = Annotated[Settings, Depends(app_settings)]
Templates = Annotated[Jinja2Templates, Depends(get_templates)]
Indexes = Annotated[SearchIndexes, Depends(search_indexes)]
Recommendations = Annotated[Recommender, Depends(get_recommender)]
Papers = Annotated[PaperCache, Depends(paper_cache)]
