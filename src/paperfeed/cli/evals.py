"""`paperfeed eval`: ranking quality on judged data, every method beside its baselines."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer

from paperfeed.cli.common import EXIT_USAGE, exit_on, load_settings, open_db, progress_bar, say
from paperfeed.core.errors import PaperfeedError

app = typer.Typer(help="Measure ranking quality on judged data.", no_args_is_help=True)


@app.command("similar")
def similar(
    csfcube: Annotated[Path, typer.Option(help="Folder of the CSFCube test collection.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    models: Annotated[
        str,
        typer.Option(help="Embedding models to compare, comma-separated (minilm,static,mpnet)."),
    ] = "minilm,static",
) -> None:
    """nDCG@10 and MAP of similar-paper ranking on CSFCube: BM25, dense and hybrid.

    Each of the 50 query papers' judged candidate pool is ranked (the query paper left out);
    figures are means over all queries (background, method and result facets alike), with each
    facet's mean listed too. MAP counts grades 2 and 3 as relevant. Vectors of the collection are
    cached in the data folder, so only the first run embeds.
    """
    from paperfeed.evals import csfcube as collection
    from paperfeed.evals.harness import EvalDataMissing

    settings = load_settings()
    kinds = _kinds(models)
    with progress_bar() as progress, _missing(EvalDataMissing):
        result = collection.run(settings, csfcube, kinds, progress=progress)
    _print(result, as_json, "facets")


@app.command("queries")
def queries(
    query_set: Annotated[
        Path | None,
        typer.Option(
            "--set",
            help="A judged query set folder (queries.jsonl, qrels.tsv, corpus.json), e.g. "
            "evals/nl-queries; without it, known-item search on stored papers.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="The shared data folder the set's corpus is read from (with --set)."),
    ] = None,
    hf_only: Annotated[
        bool,
        typer.Option(
            "--hf-only",
            help="With --set: only the corpus papers a Hugging Face daily listing names, and the "
            "queries left with a relevant paper among them.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    corpus: Annotated[int, typer.Option(min=10, help="Papers in the corpus.")] = 3000,
    queries: Annotated[int, typer.Option(min=1, help="Queries of each style.")] = 300,
    models: Annotated[
        str,
        typer.Option(help="Embedding models to compare, comma-separated (minilm,static,mpnet)."),
    ] = "minilm,static",
) -> None:
    """Search quality on queries: a judged query set (--set), or known-item search.

    With --set, every query of the set is ranked over the set's whole corpus (built from the
    shared data) and scored against its graded judgments: nDCG@10, MAP and recall@100 per
    method and per query type. Without it, the corpus is a fixed random sample of stored papers
    that Hugging Face summarized; each query is one of them's AI summary (a paraphrase) or AI
    keywords, and only that paper counts as relevant: nDCG@10, MAP (= MRR@10) and recall@10;
    that corpus is indexed without the AI summaries and keywords (the site indexes them), or
    each query would find its own words. Both print stock BM25 (bm25s) and plain RRF of it with
    dense beside paperfeed's rankings.
    """
    from paperfeed.evals import judged, known_items
    from paperfeed.evals.harness import EvalDataMissing

    if hf_only and query_set is None:
        raise typer.BadParameter("--hf-only cuts a query set: pass --set", param_hint="--hf-only")
    settings = load_settings()
    kinds = _kinds(models)
    if query_set is not None:
        from paperfeed.ingest.quickstart import find_data_dir

        with _missing(EvalDataMissing):
            judged.set_files(query_set)  # a wrong --set is named before the data is looked for
        folder = data or find_data_dir()
        if folder is None:
            raise typer.BadParameter(
                "no shared data folder found: pass --data", param_hint="--data"
            )
        with progress_bar() as progress, _missing(EvalDataMissing):
            result = judged.run(
                settings, query_set, folder, kinds, progress=progress, hf_only=hf_only
            )
        _print(result, as_json, "types")
        return
    with (
        open_db(settings) as db,
        db.sessions() as session,
        progress_bar() as progress,
        _missing(EvalDataMissing),
    ):
        result = known_items.run(settings, session, kinds, corpus, queries, progress=progress)
    _print(result, as_json, "styles")


@app.command("recommend")
def recommend(
    snapshot: Annotated[
        Path, typer.Option(help="The arXiv snapshot (.jsonl.gz), e.g. arxiv-cs/... in the data.")
    ],
    cutoff: Annotated[
        str, typer.Option(help="The day recommending starts (YYYY-MM-DD); history is before it.")
    ],
    readers: Annotated[int, typer.Option(min=1, help="Readers sampled (authors).")] = 200,
    weeks: Annotated[int, typer.Option(min=1, max=13, help="Weeks of candidates.")] = 4,
    model: Annotated[
        str, typer.Option(help="Embeddings: static (fast on a CPU) or minilm (the site's default).")
    ] = "static",
    seed: Annotated[int, typer.Option(help="Seed of the reader sample.")] = 11,
    cache_svm: Annotated[
        bool,
        typer.Option(
            "--cache-svm",
            help="Keep the SVM's scores per reader in the data folder and reuse them in the next "
            "run of the same snapshot, cutoff, weeks, seed and readers (its times are then those "
            "of the run that made them).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recommendations on the author-history protocol, beside arxiv-sanity-lite's SVM.

    An author with 5 or more papers before the cutoff and one in the weeks after is a reader
    whose saved papers are their own latest 20; the candidates (names removed) are every paper
    of the next weeks; their own are the relevant ones. Prints recall@20, recall@50, nDCG@20 and
    per-request time of random, tf-idf centroid, the arxiv-sanity-lite SVM, embedding centroid
    and paperfeed's recommender (with and without "not interested"), all on the same readers.
    """
    from datetime import date

    from paperfeed.evals import recommend as protocol
    from paperfeed.evals.harness import EvalDataMissing

    if model not in ("static", "minilm"):
        raise typer.BadParameter("--model: static or minilm")
    try:
        day = date.fromisoformat(cutoff)
    except ValueError:
        raise typer.BadParameter("--cutoff: a day, YYYY-MM-DD") from None
    settings = load_settings()
    with progress_bar() as progress, _missing(EvalDataMissing):
        result = protocol.run(
            settings, snapshot, day, count=readers, model=model, weeks=weeks, seed=seed,
            svm_cache=cache_svm, progress=progress,
        )  # fmt: skip
    if as_json:
        print(json.dumps(result, indent=2))
        return
    about = result.pop("protocol")
    say(
        f"{about['readers']} readers, {about['candidates']} candidates ({about['weeks']} weeks "
        f"from {about['cutoff']}), corpus {about['corpus']}, embeddings {about['embeddings']}, "
        f"{about['relevant_per_reader']} relevant per reader"
        + (", SVM scores and times from the cache" if about["svm_cached"] else "")
    )
    columns = ("recall@20", "recall@50", "ndcg@20", "ms_p50", "ms_p95")
    say(f"{'':<26}" + "".join(f"{c:>11}" for c in columns))
    for method, figures in result.items():
        say(f"{method:<26}" + "".join(f"{figures[c]:>11.4f}" for c in columns[:3])
            + "".join(f"{figures[c]:>11.2f}" for c in columns[3:]))  # fmt: skip
    svm = result["asl-svm"]["ndcg@20"]
    if svm:
        say(f"paperfeed / asl-svm nDCG@20: {result['paperfeed']['ndcg@20'] / svm:.2f}x")


def _missing(error: type[PaperfeedError]) -> AbstractContextManager[None]:
    """Missing eval data is a usage error (exit status 2), with the path that was looked for."""
    return exit_on(error, status=EXIT_USAGE)


def _kinds(models: str) -> list[str]:
    from paperfeed.search.embedding import KINDS

    kinds = [m.strip() for m in models.split(",") if m.strip() and m.strip() != "none"]
    for kind in kinds:
        if kind not in KINDS:
            raise typer.BadParameter(f"--models: {kind!r} is not one of {', '.join(KINDS)}, none")
    return kinds


def _print(result: dict[str, Any], as_json: bool, extra: str) -> None:
    """The figures as a table (a row per method, a block per facet or style), or as JSON."""
    if as_json:
        print(json.dumps(result, indent=2))
        return
    about = [f"{k} {result[k]}" for k in ("set", "corpus", "queries") if k in result]
    if about:
        say(", ".join(about))
    if "note" in result:
        say(result["note"])
    methods = [k for k, v in result.items() if isinstance(v, dict)]
    metrics = [k for k in ("ndcg@10", "map", "recall@10", "recall@100") if k in result[methods[0]]]
    say(f"{'':<16}" + "".join(f"{m:>11}" for m in metrics))
    for method in methods:
        say(f"{method:<16}" + "".join(f"{result[method][m]:>11.4f}" for m in metrics))
    for group in result[methods[0]].get(extra, {}):
        count = result[methods[0]][extra][group].get("queries")
        say(f"\n{extra[:-1]} {group}" + (f" ({count} queries)" if count else ""))
        for method in methods:
            row = "".join(f"{result[method][extra][group][m]:>11.4f}" for m in metrics)
            say(f"{method:<16}{row}")
