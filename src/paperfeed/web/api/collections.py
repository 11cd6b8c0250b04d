"""The collections JSON API: read a collection (Bearer token for a private one), and change yours.

Reading needs no token for a public collection. Someone else's private collection answers 404
exactly like a missing one; changing someone else's public collection answers 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import Response
from pydantic import Field

from paperfeed.community import accounts
from paperfeed.community import collections as service
from paperfeed.community.collections import Collection, SavedPaper
from paperfeed.hf_api import (
    BODY_ERRORS,
    ApiModel,
    ErrorResponses,
    HfError,
    HfPaper,
    HfTimestamp,
    hf_paper,
)
from paperfeed.store.models import COLLECTION_NAME_MAX
from paperfeed.web.auth import CurrentUser, RequiredUser
from paperfeed.web.deps import DbSession

router = APIRouter(prefix="/api", tags=["collections"])

_READ_ERRORS: ErrorResponses = {404: {"model": HfError}}
_WRITE_ERRORS: ErrorResponses = {
    401: {"model": HfError},
    403: {"model": HfError},
    404: {"model": HfError},
    422: {"model": HfError},
}


class CollectionSummary(ApiModel):
    """A collection without its papers."""

    id: int
    name: str
    public: bool = Field(description="Whether anyone may read it; private ones only the owner.")
    owner: str = Field(description="The owner's username.")
    num_papers: int = Field(alias="numPapers")
    created_at: HfTimestamp = Field(alias="createdAt")
    updated_at: HfTimestamp = Field(alias="updatedAt")


class SavedPaperOut(ApiModel):
    """A paper in a collection, in the Hugging Face paper shape, and when it was saved."""

    added_at: HfTimestamp = Field(alias="addedAt")
    paper: HfPaper


class CollectionOut(CollectionSummary):
    """A collection with its papers, most recently saved first."""

    papers: list[SavedPaperOut]


# `public` is a JSON boolean: 0, 1 or "yes" are refused (422), not read as one (strict=True).
class CollectionIn(ApiModel):
    name: str = Field(min_length=1, max_length=COLLECTION_NAME_MAX)
    public: bool = Field(default=False, strict=True)


class CollectionChange(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=COLLECTION_NAME_MAX)
    public: bool | None = Field(default=None, strict=True)


class PaperIn(ApiModel):
    paper_id: str = Field(alias="paperId", max_length=300, description="arXiv id or URL.")


class PaperChange(ApiModel):
    """Whether the request changed the collection (False: the paper was already in, or not)."""

    paper_id: str = Field(alias="paperId")
    changed: bool
    num_papers: int = Field(alias="numPapers")


@router.get(
    "/collections/{collection_id:id}",
    response_model=CollectionOut,
    response_model_exclude_none=True,
    responses=_READ_ERRORS,
)
def get_collection(collection_id: int, session: DbSession, user: CurrentUser) -> CollectionOut:
    """A collection and its papers: public ones for anyone, private ones for the owner's token."""
    collection = service.get(session, user, collection_id)
    saved = service.papers(session, user, collection_id)
    summary = _summary(collection).model_dump(by_alias=False)
    return CollectionOut(**summary, papers=[_saved(item) for item in saved])


@router.get(
    "/users/{username}/collections",
    response_model=list[CollectionSummary],
    responses=_READ_ERRORS,
)
def users_collections(
    username: str, session: DbSession, user: CurrentUser
) -> list[CollectionSummary]:
    """Someone's public collections; with their own token, all of them."""
    owner = accounts.get_user(session, username)
    if owner is None:
        raise HTTPException(404, f"no user named {username[:40]!r}")
    return [_summary(c) for c in service.collections_of(session, owner, user)]


@router.post(
    "/collections",
    response_model=CollectionSummary,
    status_code=201,
    responses={**_WRITE_ERRORS, **BODY_ERRORS},
)
def create_collection(
    request: Request, user: RequiredUser, body: CollectionIn
) -> CollectionSummary:
    """Make a collection (private unless `public` is true)."""
    with request.app.state.db.transaction() as session:
        made = service.create(session, user, body.name, public=body.public)
    return _summary(made)


@router.patch(
    "/collections/{collection_id:id}",
    response_model=CollectionSummary,
    responses={**_WRITE_ERRORS, **BODY_ERRORS},
)
def change_collection(
    collection_id: int, request: Request, user: RequiredUser, body: CollectionChange
) -> CollectionSummary:
    """Rename a collection of yours, or make it public or private."""
    if body.name is None and body.public is None:
        raise HTTPException(422, "Give a new name, or public: true or false.")
    with request.app.state.db.transaction() as session:
        if body.name is not None:
            changed = service.rename(session, user, collection_id, body.name)
        if body.public is not None:
            changed = service.set_public(session, user, collection_id, body.public)
    return _summary(changed)


@router.delete("/collections/{collection_id:id}", status_code=204, responses=_WRITE_ERRORS)
def delete_collection(collection_id: int, request: Request, user: RequiredUser) -> Response:
    """Delete a collection of yours (the papers stay on the site)."""
    with request.app.state.db.transaction() as session:
        service.delete_collection(session, user, collection_id)
    return Response(status_code=204)


@router.post(
    "/collections/{collection_id:id}/papers",
    response_model=PaperChange,
    responses={**_WRITE_ERRORS, **BODY_ERRORS},
)
def add_paper(
    collection_id: int, request: Request, user: RequiredUser, body: Annotated[PaperIn, Body()]
) -> PaperChange:
    """Save a paper in a collection of yours (idempotent)."""
    with request.app.state.db.transaction() as session:
        changed = service.add_paper(session, user, collection_id, body.paper_id)
        size = service.get(session, user, collection_id).size
    return PaperChange(paper_id=body.paper_id, changed=changed, num_papers=size)


@router.delete(
    "/collections/{collection_id:id}/papers/{paper_id:path}",
    response_model=PaperChange,
    responses=_WRITE_ERRORS,
)
def remove_paper(
    collection_id: int, paper_id: str, request: Request, user: RequiredUser
) -> PaperChange:
    """Take a paper out of a collection of yours (idempotent)."""
    with request.app.state.db.transaction() as session:
        changed = service.remove_paper(session, user, collection_id, paper_id)
        size = service.get(session, user, collection_id).size
    return PaperChange(paper_id=paper_id, changed=changed, num_papers=size)


def _summary(collection: Collection) -> CollectionSummary:
    return CollectionSummary(
        id=collection.id,
        name=collection.name,
        public=collection.is_public,
        owner=collection.owner,
        num_papers=collection.size,
        created_at=collection.created_at,
        updated_at=collection.updated_at,
    )


def _saved(saved: SavedPaper) -> SavedPaperOut:
    return SavedPaperOut(added_at=saved.added_at, paper=hf_paper(saved.paper))
