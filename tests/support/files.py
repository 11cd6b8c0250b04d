"""Helpers that read the shared real data the way the tests check imports against it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def hf_entries(files: list[Path]) -> list[dict]:
    """Every entry of the given daily-papers files, in order."""
    return [entry for file in files for entry in json.loads(file.read_text())]


def hf_files(folder: Path, prefix: str = "") -> list[Path]:
    """The saved daily-papers files whose name starts with prefix (e.g. '2025-06')."""
    return sorted(folder.glob(f"{prefix}*.json"))


def arxiv_subset(source: Path, target: Path, count: int) -> list[dict]:
    """Write the first `count` records of the snapshot to a new .jsonl.gz; return them."""
    records = []
    with gzip.open(source, "rt") as lines:
        for line in lines:
            records.append(json.loads(line))
            if len(records) == count:
                break
    with gzip.open(target, "wt") as out:
        out.writelines(json.dumps(r) + "\n" for r in records)
    return records
