"""The data folder is private: files 0600, folders 0700, also what an older version left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fastapi.testclient import TestClient

from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app


def test_the_database_and_everything_in_the_home_are_private(tmp_path: Path) -> None:
    """Audit finding: the database file was world-readable (0644)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    old = home / "paperfeed.db"
    old.touch(mode=0o644)
    os.chmod(old, 0o644)
    settings = Settings(home=home)
    try:
        settings.ensure_home()
        with Database(settings.database_url) as db, TestClient(create_app(settings, db)) as client:
            assert client.get("/").status_code == 200
            (home / "index").mkdir(exist_ok=True)
        modes = {
            path.name: stat.S_IMODE(path.stat().st_mode)
            for path in [home, *home.rglob("*")]
            if not path.is_symlink()
        }
    finally:
        os.umask(0o022)  # the test process's usual mask, for the tests after this one
    assert modes["paperfeed.db"] == 0o600
    assert {mode for name, mode in modes.items() if name.startswith("paperfeed.db")} == {0o600}
    assert modes["home"] == 0o700 and modes["index"] == 0o700
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes
