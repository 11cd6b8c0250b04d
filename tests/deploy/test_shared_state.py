"""What several nodes must share lives in the database: the site secret, on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from paperfeed.core.secrets import SECRET_FILE, site_secret
from paperfeed.settings import Settings
from paperfeed.store.db import Database


def test_nodes_with_their_own_data_folders_sign_with_one_key(db: Database, tmp_path: Path):
    nodes = [Settings(database_url=db.url, home=tmp_path / name) for name in ("a", "b")]
    keys = [site_secret(node) for node in nodes]
    assert all(len(key) >= 48 for key in keys)
    if db.url.startswith("postgresql"):  # kept in the database: every node reads the same key
        assert keys[0] == keys[1]
        assert not any((node.home / SECRET_FILE).exists() for node in nodes)
    else:  # SQLite is one host, one folder: the key is a file there (two folders, two sites)
        assert all((node.home / SECRET_FILE).read_text().strip() == key
                   for node, key in zip(nodes, keys, strict=True))  # fmt: skip
    assert site_secret(nodes[0]) == keys[0]  # made once, then read
