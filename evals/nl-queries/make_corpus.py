"""Build the corpus slice of the nl-queries eval set: `hf2026+arxiv2026-05..07`.

The corpus is the union, by arXiv id, of
  * every paper listed in a 2026 Hugging Face daily-papers file
    (shared/data/hf-daily-papers/api/2026-*.json), and
  * every arXiv paper of shared/data/arxiv-cs/arxiv_cs_2025-03_2026-07.jsonl.gz whose
    first_seen_date is in 2026-05-01 .. 2026-07-01, both days included.

This script writes the arXiv rows of that rule (unchanged, one JSON object a line) to OUT
(default /work/scratch/nlq/arxiv-slice.jsonl.gz, outside the repo: the data is not copied
into it) and prints the counts, among them the expected number of papers in the corpus.
Importing then is:

    export PAPERFEED_HOME=/work/scratch/nlq-home PAPERFEED_EMBED_IN_BACKGROUND=false
    paperfeed ingest arxiv-jsonl /work/scratch/nlq/arxiv-slice.jsonl.gz
    paperfeed ingest hf-daily /work/shared/data/hf-daily-papers/api/2026-*.json
    paperfeed embed && paperfeed index

Usage: python make_corpus.py [--data /work/shared/data] [--out FILE]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

FIRST_DAY, LAST_DAY = "2026-05-01", "2026-07-01"  # inclusive; ISO dates compare as strings
ARXIV_FILE = "arxiv-cs/arxiv_cs_2025-03_2026-07.jsonl.gz"
HF_GLOB = "hf-daily-papers/api/2026-*.json"


def hf_ids(data: Path) -> set[str]:
    ids = set()
    for path in sorted(data.glob(HF_GLOB)):
        for entry in json.loads(path.read_text()):
            ids.add(entry["paper"]["id"])
    return ids


def write_arxiv_slice(data: Path, out: Path) -> set[str]:
    ids = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(data / ARXIV_FILE, "rt") as src, gzip.open(out, "wt") as dst:
        for line in src:
            row = json.loads(line)
            if FIRST_DAY <= row["first_seen_date"] <= LAST_DAY and row["id"] not in ids:
                ids.add(row["id"])
                dst.write(line if line.endswith("\n") else line + "\n")
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--out", type=Path, default=Path("/work/scratch/nlq/arxiv-slice.jsonl.gz"))
    args = parser.parse_args()
    arxiv = write_arxiv_slice(args.data, args.out)
    hf = hf_ids(args.data)
    print(f"arXiv rows first seen {FIRST_DAY}..{LAST_DAY}: {len(arxiv)} -> {args.out}")
    print(f"papers on 2026 Hugging Face daily lists: {len(hf)}")
    print(f"in both: {len(arxiv & hf)}")
    print(f"corpus (union by arXiv id): {len(arxiv | hf)}")


if __name__ == "__main__":
    main()
