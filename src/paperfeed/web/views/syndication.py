"""RSS and Atom feeds: the daily list, trending, an organization and an author.

/papers/feed.{rss,atom}, /trending/feed.{rss,atom}, /orgs/{name}/feed.{rss,atom},
/authors/{name}/feed.{rss,atom}; a public collection's feed is served with the collection pages.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperfeed.settings import Settings
from paperfeed.syndication import channels
from paperfeed.syndication.render import MEDIA_TYPES, Channel, FeedFormat, render
from paperfeed.web.deps import AppSettings, DbSession

router = APIRouter(include_in_schema=False)


def feed_response(channel: Channel, request: Request, settings: Settings) -> Response:
    """The channel as RSS or Atom, whichever the path's extension names."""
    form: FeedFormat = "atom" if request.url.path.endswith(".atom") else "rss"
    site_url = settings.public_url + "/"  # never the Host header: a client chooses that
    self_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    body = render(channel, form, site_url=site_url, self_path=self_path)
    return Response(body, media_type=f"{MEDIA_TYPES[form]}; charset=utf-8")


@router.get("/papers/feed.rss")
@router.get("/papers/feed.atom")
def daily_feed(request: Request, session: DbSession, settings: AppSettings) -> Response:
    channel = channels.daily(session, site_name=settings.site_name, limit=settings.page_size)
    return feed_response(channel, request, settings)


@router.get("/trending/feed.rss")
@router.get("/trending/feed.atom")
def trending_feed(request: Request, session: DbSession, settings: AppSettings) -> Response:
    channel = channels.trending(
        session,
        site_name=settings.site_name,
        limit=settings.page_size,
        days=settings.trending_days,
        gravity=settings.trending_gravity,
    )
    return feed_response(channel, request, settings)


@router.get("/orgs/{name}/feed.rss")
@router.get("/orgs/{name}/feed.atom")
def organization_feed(
    name: str, request: Request, session: DbSession, settings: AppSettings
) -> Response:
    channel = channels.organization(
        session, name, site_name=settings.site_name, limit=settings.page_size
    )
    return feed_response(channel, request, settings)


@router.get("/authors/{name:path}/feed.rss")
@router.get("/authors/{name:path}/feed.atom")
def author_feed(name: str, request: Request, session: DbSession, settings: AppSettings) -> Response:
    channel = channels.author(session, name, site_name=settings.site_name, limit=settings.page_size)
    return feed_response(channel, request, settings)
