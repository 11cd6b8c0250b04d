"""Similar-paper rankings kept on disk beside this node's indexes, one row a paper, per index state.

A paper page's "similar papers" ranking (a BM25 query of its whole title and abstract fused with
its vector's neighbours) costs more than the rest of the page. It changes only with the indexes,
so it is worked out once per paper and index state and kept in `index/similar.sqlite`: every
worker of the node reads what any of them (or `paperfeed index --similar`, which fills it for
every paper) worked out. A row holds the state it was ranked at; a row of another state is not
used, and is overwritten by the next ranking of that paper, so the file holds one row a paper.

It is a cache: a file that cannot be opened or written only costs the ranking again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

from paperfeed.core.node_file import NodeFile

log = logging.getLogger(__name__)

FILE_NAME = "similar.sqlite"
# (paper id, fused score, cosine to the paper or None where the dense ranking had none)
Ranked = list[tuple[str, float, float | None]]


class SimilarStore:
    """The rankings file of one index folder; safe to share between threads and processes."""

    def __init__(self, index_dir: Path) -> None:
        self.file = NodeFile(
            index_dir / FILE_NAME,
            "CREATE TABLE IF NOT EXISTS similar ("
            "paper_id TEXT PRIMARY KEY, state TEXT NOT NULL, ranking TEXT NOT NULL)",
        )

    def get(self, paper_id: str, state: str) -> Ranked | None:
        """The ranking of `paper_id` at this index state, if one was kept."""
        connection = self.file.connection()
        if connection is None:
            return None
        try:
            row = connection.execute(
                "SELECT ranking FROM similar WHERE paper_id = ? AND state = ?", (paper_id, state)
            ).fetchone()
        except sqlite3.Error as error:
            log.warning("similar rankings unreadable (%s): ranking again", error)
            return None
        if row is None:
            return None
        return [(str(i), float(score), semantic) for i, score, semantic in json.loads(row[0])]

    def put(self, rankings: dict[str, Ranked], state: str) -> None:
        """Keep these papers' rankings at this index state (replacing older ones)."""
        connection = self.file.connection()
        if connection is None or not rankings:
            return
        rows = [(paper_id, state, json.dumps(ranked)) for paper_id, ranked in rankings.items()]
        try:
            with connection:
                connection.executemany(
                    "INSERT OR REPLACE INTO similar (paper_id, state, ranking) VALUES (?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as error:  # busy past the timeout, read-only, disk full: a cache
            log.warning("similar rankings not kept (%s)", error)

    def states(self) -> dict[str, int]:
        """How many papers have a kept ranking, by index state."""
        connection = self.file.connection()
        if connection is None:
            return {}
        query = "SELECT state, count(*) FROM similar GROUP BY state"
        return {state: count for state, count in connection.execute(query)}
