"""Builds the ASGI application: HTML pages, the JSON API, static files and error pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from paperfeed import __version__
from paperfeed.settings import Settings, get_settings
from paperfeed.store.db import Database
from paperfeed.web import api
from paperfeed.web.errors import install_error_handlers
from paperfeed.web.templating import make_templates
from paperfeed.web.views import feed, paper

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """The paperfeed application; with no arguments it opens the database the settings name.

    A database passed in stays open when the app stops (the caller owns it).
    """
    settings = settings or get_settings()
    owns_db = db is None
    database = db or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_db:
            database.close()

    app = FastAPI(
        title=settings.site_name,
        version=__version__,
        summary="Research papers featured each day, and the Hugging Face-compatible papers API.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.templates = make_templates()
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(feed.router)
    app.include_router(paper.router)  # last: /papers/{id:path} would match the feed's paths
    install_error_handlers(app)
    return app
