"""HTML pages, one module per page family, and the one order their routers are included in.

Order matters where a greedy path would answer another's URLs: the feeds of organizations and
authors (/authors/{name}/feed.rss) come before the pages (/authors/{name:path}), and the paper
page (/papers/{id:path}) comes last, after the day, week and month pages under /papers/.
"""

from __future__ import annotations

from fastapi import APIRouter

from paperfeed.web.views import (
    accounts,
    authors,
    collections,
    community,
    digest,
    feed,
    for_you,
    orgs,
    paper,
    search,
    syndication,
    trending,
)

ROUTERS: tuple[APIRouter, ...] = (
    feed.router,
    accounts.router,
    community.router,
    trending.router,
    syndication.router,  # before orgs and authors: /authors/{name:path} is greedy
    collections.router,
    orgs.router,
    authors.router,
    digest.router,
    for_you.router,  # before paper: /papers/{id}/not-interested
    search.router,
    paper.router,  # last: /papers/{id:path} would match the feed's paths
)
