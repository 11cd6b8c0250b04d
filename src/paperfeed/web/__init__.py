"""The web site and JSON API: create_app() builds the ASGI application."""

from paperfeed.web import ids as _ids  # noqa: F401  (the {name:id} path convertor, first)
