"""paperfeed's errors: one hierarchy, each error carrying the HTTP status that fits it.

Every layer raises these (or subclasses of them defined beside the code that raises them); the
web layer maps them all with one handler (`web/errors.py`), the CLI prints their message. Callers
catch the branch they can act on::

    PaperfeedError (400)              anything paperfeed refuses, with a message for a person
     ├── NotFound (404)               no such paper, author, organization, collection, period...
     ├── Forbidden (403)              it exists, but this user may not change it
     ├── Invalid (422)                input paperfeed cannot understand (a bad id, date, name)
     ├── Refused (status given)       a valid request refused by a rule (409 taken, 413...)
     │    └── RateLimited (429)        too many of these lately; `retry_after_s` says when
     └── Unavailable (503)            something paperfeed depends on is missing or not answering
                                      (store.db.DatabaseUnavailable: retry after 5 s)

The original standard bases are kept (NotFound is also a LookupError, Invalid a ValueError,
Forbidden a PermissionError), so `except ValueError` around parsing still works.
"""

from __future__ import annotations


class PaperfeedError(Exception):
    """A request paperfeed refuses; `str(error)` says why, to the person who asked."""

    status: int = 400
    title: str | None = None  # the heading of its error page (default: the status's name)
    retry_after_s: int | None = None  # when set, answers carry Retry-After (429, 503)

    def __init__(self, message: str = "", status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class NotFound(PaperfeedError, LookupError):
    """The thing asked for does not exist (or is not visible to the one asking)."""

    status = 404


class Forbidden(PaperfeedError, PermissionError):
    """The thing exists, but the one asking may not do this to it."""

    status = 403


class Invalid(PaperfeedError, ValueError):
    """Input that cannot be understood: the message says what form is expected."""

    status = 422


class Refused(PaperfeedError):
    """A well-formed request a rule refuses; the status says which kind (409, 429, ...)."""


class RateLimited(Refused):
    """Too many requests of one kind from one account or address; retry after `retry_after_s`."""

    status = 429
    retry_after_s: int

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class Unavailable(PaperfeedError, RuntimeError):
    """A model, device or remote service paperfeed needs is missing or not answering."""

    status = 503
