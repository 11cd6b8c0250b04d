"""The JSON API under /api, one router per resource, in Hugging Face's shapes where one exists.

`router` includes them in the one order that works: paths like /api/papers/{id}/upvote and
/api/papers/search must come before /api/papers/{id:path}, which takes any id (old-style arXiv
ids contain a slash) and would answer them all.
"""

from __future__ import annotations

from fastapi import APIRouter

from paperfeed.web.api import (
    collections,
    community,
    contributors,
    papers,
    recommendations,
    status,
)

router = APIRouter()
# papers last: its path is greedy
for module in (community, recommendations, status, collections, contributors, papers):
    router.include_router(module.router)

__all__ = ["router"]
