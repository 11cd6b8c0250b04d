"""Routing by query shape (search.service.route) tried on all four evals at once.

Each setting sets how routed queries rank, and every eval is ranked again through the same
`service.route` the site's search uses: nl-queries over its whole corpus and over its Hugging Face
cut (hybrid nDCG@10 overall and per query type), the known items and CSFCube (hybrid nDCG@10).
A setting is `names:W:fb|nofb` (one-word method names at lexical weight W, with or without the
dense feedback; `fbN`: feedback from N papers) or `questions:KIND:W:fb|nofb` (questions ranked
by a weighted sum, KIND "w", or by RRF, KIND "rrf", at lexical weight W); `none` routes neither
(the ranking before routing by shape). A names setting leaves questions unrouted; a questions
setting has names routed as the code routes them (the order the README's grids were run in). It
also says on which queries of each eval the two rules fire. The README's grids ("Routing by
query shape") came from this:

    PAPERFEED_HOME=DIR .venv/bin/python bench/query_routes.py none names:0.5:fb names:0.7:nofb

DIR is a data folder with the evals' vector cache (cache/eval/) and stored papers that Hugging
Face summarized (the known items); the first run embeds what the cache lacks.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from paperfeed.evals import csfcube, judged, known_items
from paperfeed.evals.harness import EvalCorpus, caches
from paperfeed.ingest.quickstart import find_data_dir
from paperfeed.search import lexical, service
from paperfeed.search.fusion import DEFAULT, Fusion
from paperfeed.settings import Settings
from paperfeed.store.db import Database

ROOT = Path(__file__).resolve().parents[1]
Route = Callable[[str, Fusion], tuple[Fusion, int]]
CODE_ROUTE: Route = service.route


def routed(spec: str) -> Route:
    """The route of one setting (see the module's docstring)."""
    kind, *rest = spec.split(":")
    if kind == "none":
        return lambda text, fusion=DEFAULT: (fusion, _plain_feedback(text))
    if kind == "names":
        weight, feedback = float(rest[0]), _papers(rest[1])

        def names(text: str, fusion: Fusion = DEFAULT) -> tuple[Fusion, int]:
            if fusion == DEFAULT and service.is_name_query(text):
                lexical_weight = replace(DEFAULT, lexical_weight=weight, dense_weight=1 - weight)
                return lexical_weight, feedback
            return fusion, _plain_feedback(text)

        return names
    method, weight, feedback = rest[0], float(rest[1]), _papers(rest[2])
    asked = replace(
        DEFAULT, method="rrf" if method == "rrf" else "weighted", lexical_weight=weight,
        dense_weight=1 - weight,
    )  # fmt: skip

    def questions(text: str, fusion: Fusion = DEFAULT) -> tuple[Fusion, int]:
        if fusion == DEFAULT and service.is_question(text):
            return asked, feedback
        return CODE_ROUTE(text, fusion)

    return questions


def _papers(word: str) -> int:
    """Feedback papers: "fb", as short queries get; "fbN", N; anything else, none."""
    if not word.startswith("fb"):
        return 0
    return int(word[2:]) if word[2:] else service.FEEDBACK_PAPERS


def _plain_feedback(text: str) -> int:
    """The feedback before routing by shape: a few words only."""
    return service.FEEDBACK_PAPERS if len(text.split()) <= service.SHORT_QUERY_WORDS else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="none, names:W:fb, questions:w:W:nofb, ...")
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder")
    args = parser.parse_args()
    data = args.data or find_data_dir()
    if data is None:
        parser.error("no shared data folder found: pass --data")
    settings = Settings()
    ((_kind, cache),) = caches(settings, ["minilm"])
    sets: dict[str, Any] = {}
    for name, hf_only in (("nl-queries", False), ("Hugging Face cut", True)):
        cut = judged.load(ROOT / "evals" / "nl-queries", data, hf_only=hf_only)
        matrix = cache.vectors([d.text for d in cut.docs])
        queries = cache.queries([q.text for q in cut.queries])
        sets[name] = (cut, EvalCorpus(cut.docs, matrix, cache.embedder.name), queries)
        for rule in (service.is_name_query, service.is_question):
            fired = {
                kind: f"{sum(rule(q.text) for q in cut.queries if q.type == kind)}"
                f"/{sum(q.type == kind for q in cut.queries)}"
                for kind in sorted({q.type for q in cut.queries})
            }
            print(f"{name}: {rule.__name__} fires on {fired}")
    with Database(settings.database_url) as db, db.sessions() as session:
        items, item_queries = known_items.build(session, 3000, 300)
    for rule in (service.is_name_query, service.is_question):
        print(f"known items: {rule.__name__} fires on {sum(rule(q.text) for q in item_queries)}")
    corpus, cs_queries = csfcube.load(data / "csfcube")
    for spec in args.settings:
        route = routed(spec)
        # the evals rank through the route their modules imported: this setting's
        judged.route = known_items.route = route  # type: ignore[assignment]
        parts = []
        for name, (cut, index, queries) in sets.items():
            hybrid = []
            for i, query in enumerate(cut.queries):
                text_query, _ = lexical.text_query(query.text)
                fusion, feedback = route(query.text, DEFAULT)
                ranked = index.rankings(
                    text_query, queries[i], depth=judged.DEPTH, fusion=fusion, feedback=feedback
                )
                hybrid.append(ranked["hybrid"][: judged.DEPTH])
            scored = judged.score(cut.queries, {"hybrid": hybrid})["hybrid"]
            types = " ".join(f"{k} {v['ndcg@10']:.3f}" for k, v in scored["types"].items())
            parts.append(f"{name} {scored['ndcg@10']:.3f} [{types}]")
        ranked_items = known_items.rank(items, item_queries, cache)["hybrid"]
        item_score = known_items.score(item_queries, {"hybrid": ranked_items})["hybrid"]
        parts.append(f"known items {item_score['ndcg@10']:.3f}")
        ranked_cs = csfcube.rank(corpus, cs_queries, cache)["hybrid"]
        parts.append(f"CSFCube {csfcube.score(cs_queries, {'h': ranked_cs})['h']['ndcg@10']:.3f}")
        print(f"{spec}: " + " | ".join(parts), flush=True)
    judged.route = known_items.route = CODE_ROUTE  # type: ignore[assignment]


if __name__ == "__main__":
    main()
