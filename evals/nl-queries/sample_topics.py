"""Print the seeded random sample of corpus papers the queries' topics were drawn from.

The corpus ids (the papers stored in PAPERFEED_HOME, sorted) are shuffled with
random.Random(2026); the queries were written walking that order from the start, taking a
paper's topic when it filled a gap in the query types and research areas and skipping it when
it was near a topic already taken. Each query's `source_paper` is the paper that inspired it
(provenance only: it is not thereby relevant). No search result was looked at while writing.

Usage (worktree venv, PAPERFEED_HOME=/work/scratch/nlq-home): python sample_topics.py [N]
"""

from __future__ import annotations

import random
import sqlite3
import sys

from paperfeed.settings import Settings

SEED = 2026


def sample(n: int) -> list[tuple[str, str, str, str]]:
    db = Settings().home / "paperfeed.db"
    rows = (
        sqlite3.connect(db)
        .execute("select id, title, abstract, coalesce(categories, '') from papers order by id")
        .fetchall()
    )
    random.Random(SEED).shuffle(rows)
    return rows[:n]


if __name__ == "__main__":
    for rank, (arxiv_id, title, abstract, categories) in enumerate(
        sample(int(sys.argv[1]) if len(sys.argv) > 1 else 300), start=1
    ):
        print(f"[{rank}] {arxiv_id} ({categories})\n  {title}\n  {abstract[:400]}\n")
