"""The site secret that signs session cookies and mailed links: configured, or made once.

Made once means: into the data folder on SQLite (one host), into the database on PostgreSQL, so
that every node of a site (each with its own data folder) signs with the same key.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from paperfeed.settings import Settings

SECRET_FILE = "secret_key"  # in the data folder, mode 0600
SECRET_CHECKPOINT = "site:secret_key"  # its row in the checkpoints table, on PostgreSQL


def site_secret(settings: Settings) -> str:
    """PAPERFEED_SECRET_KEY, else the key generated once into the home folder (mode 0600) on
    SQLite, or into the database on PostgreSQL.

    Every process of a site (web workers, the CLI, the digest sender, other nodes) reads the same
    key, so a link mailed by one is accepted by another and any node reads any node's session.
    """
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    if settings.database_url.startswith("postgresql"):
        return _database_secret(settings.database_url)
    path = Path(settings.home) / SECRET_FILE
    if not path.exists():
        settings.ensure_home()
        try:  # O_EXCL: of several processes starting at once, exactly one writes the key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48))
    for _attempt in range(50):  # the writer may be between creating and writing it
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.05)
    raise RuntimeError(f"the secret key file {path} is empty")


@lru_cache(maxsize=4)
def _database_secret(database_url: str) -> str:
    """The key kept in the database: the first process to ask writes it, all read the same one.

    Plain SQL on the store's `checkpoints` table (key, state JSON, updated_at): core sits below the
    store, so it names the table rather than importing its model.
    """
    url = make_url(database_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url, poolclass=NullPool)
    made = json.dumps({"key": secrets.token_urlsafe(48)})
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO checkpoints (key, state, updated_at) "
                    "VALUES (:key, CAST(:state AS JSON), now() AT TIME ZONE 'utc') "
                    "ON CONFLICT (key) DO NOTHING"
                ),
                {"key": SECRET_CHECKPOINT, "state": made},
            )
            state = connection.execute(
                text("SELECT state FROM checkpoints WHERE key = :key"), {"key": SECRET_CHECKPOINT}
            ).scalar_one()
    finally:
        engine.dispose()
    stored = state if isinstance(state, dict) else json.loads(state)
    return str(stored["key"])
