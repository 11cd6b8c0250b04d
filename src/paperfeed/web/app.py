"""Builds the ASGI application: HTML pages, the JSON API, static files and error pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from paperfeed import __version__
from paperfeed.community.limits import BatchedLimits, Limits, rates_from_settings
from paperfeed.core.collector import tune_for_serving
from paperfeed.core.threads import one_thread_per_request
from paperfeed.digest.schedule import start_thread as start_schedule
from paperfeed.search.background import BackgroundEmbedder
from paperfeed.search.replica import Follower
from paperfeed.settings import Settings, get_settings
from paperfeed.store.db import Database
from paperfeed.store.paper_cache import PaperCache
from paperfeed.web import api, views
from paperfeed.web.auth import install_auth
from paperfeed.web.errors import install_error_handlers
from paperfeed.web.middleware import BodyLimit, SecurityHeaders
from paperfeed.web.page_cache import PageCache
from paperfeed.web.shared_pages import SharedPages
from paperfeed.web.templating import make_templates
from paperfeed.web.views import collections as collection_views
from paperfeed.web.views import for_you as for_you_views

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """The paperfeed application; with no arguments it opens the database the settings name.

    A database passed in stays open when the app stops (the caller owns it).
    """
    settings = settings or get_settings()
    one_thread_per_request()
    owns_db = db is None
    database = db or Database(settings.database_url)
    if owns_db:
        database.papers = PaperCache(settings.paper_cache_papers)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The thread pool that runs the sync endpoints (Starlette's, 40 threads by default):
        # requests beyond this many wait in line instead of taking the interpreter lock in turns.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        if _app.state.serving:
            tune_for_serving()  # after the app is built: its objects are frozen with the rest
        embedder = _app.state.background_embedder
        if embedder is not None:
            embedder.start()  # the site serves at once; vectors fill in behind it
        # With the job queue `paperfeed worker` sends the digests; this node only follows the
        # database into its search replica.
        queue = settings.uses_job_queue
        schedule = (
            start_schedule(database, settings) if settings.digest_schedule and not queue else None
        )
        follower = Follower(database, settings) if queue else None
        if follower is not None:
            follower.start()
        yield
        if follower is not None:
            follower.stop()
        if schedule is not None:
            schedule[1].set()  # stop the digest schedule thread
        if embedder is not None:
            embedder.stop()
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
    app.state.serving = False  # set by serving_app: a worker of `paperfeed serve`
    app.state.limits = Limits(database.sessions, rates_from_settings(settings))
    app.state.batched_limits = BatchedLimits(app.state.limits)
    app.state.templates = make_templates()
    app.state.background_embedder = (
        BackgroundEmbedder(database, settings)
        if settings.embed_in_background and not settings.uses_job_queue
        else None
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)  # JSON first: its paths are all under /api
    for router in views.ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    # Inside the session middleware (added by install_auth): it reads who is asking.
    database.site_version.interval_s = settings.site_version_check_s
    app.add_middleware(
        PageCache,
        versions=database.site_version,
        max_bytes=settings.page_cache_mb * 1024 * 1024,
        max_age_s=settings.page_cache_max_age_s,
        shared=(
            SharedPages(
                settings.home, settings.page_cache_max_age_s, settings.page_cache_mb * 1024 * 1024
            )
            if settings.page_cache_mb > 0
            else None
        ),
    )
    install_auth(app, settings)
    collection_views.install(app)
    for_you_views.install(app)
    # Outermost last: the body cap acts before sessions or routes read anything.
    app.add_middleware(SecurityHeaders, https=settings.https)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def serving_app() -> FastAPI:
    """The app of one worker process of `paperfeed serve`: create_app, plus the process-wide
    tuning such a process wants (core.collector) and a test process must not get."""
    app = create_app()
    app.state.serving = True
    return app
