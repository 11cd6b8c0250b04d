"""Error responses: JSON {"error": ...} under /api, an HTML page everywhere else.

Every error paperfeed raises is a core.errors.PaperfeedError carrying its status: one handler
maps them all. Views catch one only to show it inside the page it belongs to (a form).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from paperfeed.core.errors import PaperfeedError

log = logging.getLogger(__name__)

_TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    422: "Invalid request",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Unavailable",
}


def install_error_handlers(app: FastAPI) -> None:
    """Map every error paperfeed raises to a response in the form the client asked for."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PaperfeedError, _paperfeed_error)
    app.add_exception_handler(Exception, _server_error)


def error_response(
    request: Request, status: int, message: str, *, title: str | None = None
) -> Response:
    """JSON for API paths, a page for people otherwise."""
    if request.url.path == "/api" or request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    templates = request.app.state.templates
    heading = title or _TITLES.get(status, "Error")
    # A 503 page names no one in its header: finding who is logged in needs the database,
    # which may be what is away.
    context = {"status": status, "title": heading, "message": message, "show_viewer": status != 503}
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    message = str(error.detail) if error.detail else _TITLES.get(error.status_code, "Error")
    if error.status_code == 404 and message == "Not Found":
        message = f"Nothing found at {request.url.path[:200]}"
    response = error_response(request, error.status_code, message)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "query")
        problems.append(f"{where}: {problem.get('msg', 'invalid value')}")
    return error_response(request, 422, "; ".join(problems) or "invalid request")


async def _paperfeed_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, PaperfeedError)
    message = str(error) or _TITLES.get(error.status, "Error")
    if error.status >= 500:  # something paperfeed depends on is away (the database, a model)
        log.warning("%s for %s: %s (%r)", error.status, request.url.path, message, error.__cause__)
    response = error_response(request, error.status, message, title=error.title)
    if error.retry_after_s is not None:  # RateLimited, DatabaseUnavailable
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


async def _server_error(request: Request, error: Exception) -> Response:
    if isinstance(error, PaperfeedError):  # raised in a middleware, outside the routes' handlers
        return await _paperfeed_error(request, error)
    log.exception("error serving %s", request.url.path)
    return error_response(request, 500, "The server could not answer this request.")
