"""nl-queries' Hugging Face cut scored as the held-out set is: through GET /api/papers/search.

The held-out set of issue 10 is scored through the search API on a store of Hugging Face daily
papers alone. This asks the API of a data folder holding only the 2026 daily papers for each
query of `paperfeed eval queries --set evals/nl-queries --hf-only` (the 43 queries with a
relevant paper among them) and scores the first 10 results (nDCG@10, overall and per query
type), with the judgments cut to those papers. Build the data folder once:

    export PAPERFEED_HOME=/tmp/hf2026
    paperfeed ingest hf-daily DATA/hf-daily-papers/api/2026-*.json
    PAPERFEED_EMBED_FAST_TIER=false paperfeed embed      # MiniLM, ~2.5 min on one core here
    .venv/bin/python bench/nl_queries_api.py --home /tmp/hf2026 [--keywords 0.0]

`--keywords W` sets the AI-keywords field's weight for this run (lexical.FIELD_BOOSTS), so one
folder compares with and without it. The papers arXiv also supplied carry Hugging Face's title
and abstract here (no arXiv import), as on a site that imports daily papers alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fastapi.testclient import TestClient

from paperfeed.evals import judged
from paperfeed.evals.metrics import mean, ndcg
from paperfeed.ingest.quickstart import find_data_dir
from paperfeed.search import lexical
from paperfeed.settings import Settings
from paperfeed.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="data folder (2026 daily papers)")
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder")
    parser.add_argument("--keywords", type=float, default=None, help="AI-keywords field weight")
    args = parser.parse_args()
    if args.keywords is not None:
        lexical.FIELD_BOOSTS["keywords"] = args.keywords
    data = args.data or find_data_dir()
    if data is None:
        parser.error("no shared data folder found: pass --data")
    cut = judged.load(ROOT / "evals" / "nl-queries", data, hf_only=True)
    # the queries come from one address: lift the per-address search limit for this run
    settings = Settings(home=args.home, rate_limits={"search.addr": "100000/1m"})
    per_type: dict[str, list[float]] = {}
    with TestClient(create_app(settings)) as client:
        for query in cut.queries:
            response = client.get("/api/papers/search", params={"q": query.text, "limit": 10})
            response.raise_for_status()
            ids = [hit["paper"]["id"] for hit in response.json()]
            per_type.setdefault(query.type, []).append(ndcg(ids, query.grades, 10))
    every = [value for values in per_type.values() for value in values]
    print(
        f"keywords weight {lexical.FIELD_BOOSTS['keywords']}: nDCG@10 {mean(every):.4f} over "
        f"{len(every)} queries; "
        + ", ".join(f"{kind} {mean(values):.3f}" for kind, values in sorted(per_type.items()))
    )


if __name__ == "__main__":
    main()
