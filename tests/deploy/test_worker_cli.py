"""`paperfeed worker` on the embedded default: one clear line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_worker_on_sqlite_says_the_queue_needs_postgresql() -> None:
    for args in (["worker"], ["ingest", "hf-daily", "--enqueue", "some.json"]):
        done = subprocess.run(
            [sys.executable, "-m", "paperfeed.cli", *args],
            env=dict(os.environ), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            "error: the job queue runs on PostgreSQL: set PAPERFEED_DATABASE_URL to a "
            "postgresql:// URL; on SQLite `paperfeed serve` does the background work itself"
        ]
