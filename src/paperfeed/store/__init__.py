"""Persistence: SQLAlchemy models, engine and sessions, migrations, reads and writes."""
