"""The web site and JSON API: create_app() builds the ASGI application."""
