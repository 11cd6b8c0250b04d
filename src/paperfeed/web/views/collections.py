"""Collection pages: a user's collections, one collection, its forms, BibTeX and feed exports.

Every change is a plain HTML form POST carrying the session's CSRF token. Someone else's private
collection answers 404 exactly like a collection that does not exist; a public one refuses changes
by anyone but its owner with 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from paperfeed.community import accounts
from paperfeed.community import collections as service
from paperfeed.community.collections import Collection, InvalidCollection
from paperfeed.store.models import UserRow
from paperfeed.syndication.render import Channel, FeedEntry
from paperfeed.web.auth import CsrfChecked, CurrentUser, RequiredUser, current_user, safe_next
from paperfeed.web.deps import AppSettings, DbSession, Templates
from paperfeed.web.flash import flash
from paperfeed.web.ids import valid_id
from paperfeed.web.paging import Pager
from paperfeed.web.views.syndication import feed_response

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

FormText = Annotated[str, Form()]
FormFlag = Annotated[str | None, Form()]  # a checkbox: present ("on") when ticked
_VIEWER_COLLECTIONS = "paperfeed_collections"  # request.state cache for the templates


def install(app: FastAPI) -> None:
    """The template helpers cards use (which of the viewer's collections hold a paper)."""
    app.state.templates.env.globals.update(my_collections=my_collections, saved_in=saved_in)


def my_collections(request: Request) -> list[Collection]:
    """The logged-in user's collections (none for a visitor), loaded once per request."""
    cached = getattr(request.state, _VIEWER_COLLECTIONS, None)
    if cached is None:
        cached = _load_viewer_collections(request)
        setattr(request.state, _VIEWER_COLLECTIONS, cached)
    return cached[0]


def saved_in(request: Request, arxiv_id: str) -> set[int]:
    """Ids of the logged-in user's collections that hold this paper."""
    my_collections(request)
    return getattr(request.state, _VIEWER_COLLECTIONS)[1].get(arxiv_id, set())


@router.get("/collections")
def mine(request: Request, session: DbSession, templates: Templates, user: RequiredUser):
    """The logged-in user's collections, with a form to make another."""
    found = service.collections_of(session, user, user)
    return _page(request, templates, "collections.html", owner=user, collections=found)


@router.get("/users/{username}/collections")
def users_collections(
    username: str, request: Request, session: DbSession, templates: Templates, user: CurrentUser
):
    """Someone's public collections (all of them when it is the viewer's own list)."""
    owner = accounts.get_user(session, username)
    if owner is None:
        raise HTTPException(404, f"no user named {username[:40]!r}")
    found = service.collections_of(session, owner, user)
    return _page(request, templates, "collections.html", owner=owner, collections=found)


@router.post("/collections", dependencies=[CsrfChecked])
def create(
    request: Request,
    user: RequiredUser,
    name: FormText = "",
    public: FormFlag = None,
    paper_id: FormText = "",
    next: FormText = "",
):
    """Make a collection (and save `paper_id` in it, from a paper page)."""
    try:
        with request.app.state.db.transaction() as session:
            made = service.create(session, user, name, public=bool(public))
            if paper_id:
                service.add_paper(session, user, made.id, paper_id)
    except InvalidCollection as error:
        flash(request, str(error), "error")
        return _back(next, "/collections")
    saved = " and saved the paper in it" if paper_id else ""
    flash(request, f"Made the collection {made.name!r}{saved}.")
    return _back(next, f"/collections/{made.id}")


@router.get("/collections/{collection_id:id}.bib")
def bibtex_export(collection_id: int, session: DbSession, user: CurrentUser) -> Response:
    """The collection as a BibTeX file, one @misc entry per paper."""
    text = service.bibtex_of(session, user, collection_id)
    headers = {"Content-Disposition": f'attachment; filename="collection-{collection_id}.bib"'}
    return Response(text, media_type="application/x-bibtex; charset=utf-8", headers=headers)


@router.get("/collections/{collection_id:id}/feed.rss")
@router.get("/collections/{collection_id:id}/feed.atom")
def collection_feed(
    collection_id: int,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    user: CurrentUser,
) -> Response:
    """A collection's papers, most recently saved first, as RSS or Atom."""
    collection = service.get(session, user, collection_id)
    saved = service.page(session, user, collection_id, page_size=settings.page_size).items
    channel = Channel(
        title=f"{settings.site_name}: {collection.name}",
        description=f"Papers saved in the collection {collection.name!r} by {collection.owner}.",
        page_path=f"/collections/{collection.id}",
        entries=[FeedEntry(item.paper, item.added_at) for item in saved],
    )
    return feed_response(channel, request, settings)


@router.get("/collections/{collection_id:id}")
def collection_page(
    collection_id: int,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    templates: Templates,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
):
    """One collection's papers, most recently saved first; its owner also gets the forms."""
    found = service.page(session, user, collection_id, page=page, page_size=settings.page_size)
    pager = Pager(f"/collections/{collection_id}", page, found.pages)
    owner = found.collection.owned_by(user)
    return _page(request, templates, "collection.html", found=found, pager=pager, is_owner=owner)


@router.post("/collections/{collection_id:id}/rename", dependencies=[CsrfChecked])
def rename(request: Request, collection_id: int, user: RequiredUser, name: FormText = ""):
    try:
        with request.app.state.db.transaction() as session:
            renamed = service.rename(session, user, collection_id, name)
    except InvalidCollection as error:
        flash(request, str(error), "error")
    else:
        flash(request, f"Renamed to {renamed.name!r}.")
    return RedirectResponse(f"/collections/{collection_id}", status_code=303)


@router.post("/collections/{collection_id:id}/visibility", dependencies=[CsrfChecked])
def visibility(request: Request, collection_id: int, user: RequiredUser, public: FormFlag = None):
    with request.app.state.db.transaction() as session:
        changed = service.set_public(session, user, collection_id, bool(public))
    if changed.is_public:
        flash(request, f"{changed.name!r} is now public: anyone with the link can see it.")
    else:
        flash(request, f"{changed.name!r} is now private: only you can see it.")
    return RedirectResponse(f"/collections/{collection_id}", status_code=303)


@router.post("/collections/{collection_id:id}/delete", dependencies=[CsrfChecked])
def delete(request: Request, collection_id: int, user: RequiredUser):
    with request.app.state.db.transaction() as session:
        name = service.get(session, user, collection_id).name
        service.delete_collection(session, user, collection_id)
    flash(request, f"Deleted the collection {name!r}; its papers are still on the site.")
    return RedirectResponse("/collections", status_code=303)


@router.post("/collections/{collection_id:id}/papers", dependencies=[CsrfChecked])
def add_paper(
    request: Request,
    collection_id: int,
    user: RequiredUser,
    paper_id: FormText = "",
    next: FormText = "",
):
    """Save a paper in the collection (from a paper page or a card)."""
    return _change_paper(request, user, collection_id, paper_id, next, add=True)


@router.post("/collections/{collection_id:id}/papers/remove", dependencies=[CsrfChecked])
def remove_paper(
    request: Request,
    collection_id: int,
    user: RequiredUser,
    paper_id: FormText = "",
    next: FormText = "",
):
    """Take a paper out of the collection."""
    return _change_paper(request, user, collection_id, paper_id, next, add=False)


@router.post("/collections/save", dependencies=[CsrfChecked])
def save_from_card(
    request: Request,
    user: RequiredUser,
    collection_id: Annotated[int, Form()],
    paper_id: FormText = "",
    action: FormText = "add",
    next: FormText = "",
):
    """A card's form: the collection is picked in the form, the button says add or remove."""
    if not valid_id(collection_id):  # past 64 bits it names nothing (and cannot be bound)
        raise HTTPException(404, "No such collection.")
    return _change_paper(request, user, collection_id, paper_id, next, add=action != "remove")


def _change_paper(
    request: Request, user: UserRow, collection_id: int, paper_id: str, next: str, *, add: bool
) -> Response:
    try:
        with request.app.state.db.transaction() as session:
            change = service.add_paper if add else service.remove_paper
            changed = change(session, user, collection_id, paper_id)
            name = service.get(session, user, collection_id).name
    except InvalidCollection as error:
        flash(request, str(error), "error")
        return _back(next, f"/collections/{collection_id}")
    if add:
        message = f"Saved in {name!r}." if changed else f"Already in {name!r}."
    else:
        message = f"Removed from {name!r}." if changed else f"It was not in {name!r}."
    flash(request, message)
    return _back(next, f"/collections/{collection_id}")


def _page(request: Request, templates: Templates, name: str, **context: Any) -> Response:
    return templates.TemplateResponse(request, name, context)


def _back(next: str, default: str) -> RedirectResponse:
    return RedirectResponse(safe_next(next, default), status_code=303)


def _load_viewer_collections(request: Request) -> tuple[list[Collection], dict[str, set[int]]]:
    user = current_user(request)
    if user is None:
        return [], {}
    with request.app.state.db.sessions() as session:
        return service.collections_of(session, user, user), service.all_saved(session, user)

