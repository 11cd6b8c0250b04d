"""`paperfeed search`, `index` and `embed`: query papers, keep indexes and vectors current."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from paperfeed.cli.common import (
    exit_on,
    load_settings,
    open_db,
    parse_day,
    progress_bar,
    say,
    warn,
)
from paperfeed.search.service import Hit


def index(
    rebuild: Annotated[
        bool, typer.Option(help="Build both indexes again from the store, then swap them in.")
    ] = False,
    similar: Annotated[
        bool,
        typer.Option(
            help="Then work out every paper's similar papers at this index state and keep them "
            "beside the indexes, so no paper page works them out."
        ),
    ] = False,
) -> None:
    """Bring the search indexes (BM25 and vectors) up to date with the store.

    Updates are incremental: the papers changed since the last run are re-indexed, and the vector
    index is rebuilt when the stored vectors changed. An interrupted run leaves the previous
    index in place; running it again finishes the work.
    """
    from paperfeed.search.indexer import update_indexes

    settings = load_settings()
    with open_db(settings) as db, progress_bar() as progress:
        report = update_indexes(db, settings, rebuild=rebuild, progress=progress)
    lexical = "rebuilt" if report.lexical_rebuilt else f"{report.lexical_updated} papers updated"
    line = f"search index: BM25 {lexical}, {report.lexical_total} papers"
    if report.vector_model:
        state = "rebuilt" if report.vectors_rebuilt else "up to date"
        line += f"; vectors ({report.vector_model}) {state}, {report.vectors_total} papers"
    else:
        line += "; vectors off (search_dense = false)"
    say(f"{line} ({report.seconds:.1f} s)")
    if similar:
        _fill_similar(settings)


def _fill_similar(settings) -> None:
    import time

    from sqlalchemy import select

    from paperfeed.core.threads import one_thread_per_request
    from paperfeed.search.service import SearchIndexes, fill_similar
    from paperfeed.store.models import PaperRow

    one_thread_per_request()  # small products: a pool of BLAS threads only spins
    started = time.perf_counter()
    indexes = SearchIndexes(settings)
    with open_db(settings) as db, db.sessions() as session, progress_bar() as progress:
        ids = list(session.scalars(select(PaperRow.id).order_by(PaperRow.id)))
        progress.start("similar papers", len(ids))
        done = 0
        for start in range(0, len(ids), 1_000):
            done += fill_similar(session, indexes, ids[start : start + 1_000])
            progress.advance(len(ids[start : start + 1_000]))
    seconds = time.perf_counter() - started
    say(f"similar papers: {done} papers ranked, {len(ids) - done} already kept ({seconds:.1f} s)")


def search(
    query: Annotated[str, typer.Argument(help="Words, a title, an arXiv id or an author's name.")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="Results to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a list.")] = False,
    category: Annotated[str | None, typer.Option(help="Only this arXiv category.")] = None,
    organization: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    author: Annotated[str | None, typer.Option(help="Only papers with this author.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Papers from (YYYY-MM-DD).")] = None,
    to: Annotated[str | None, typer.Option(help="Papers until (YYYY-MM-DD).")] = None,
) -> None:
    """Search the stored papers (BM25 and semantic similarity, fused); each result says why."""
    from paperfeed.search.lexical import Filters
    from paperfeed.search.service import SearchIndexes
    from paperfeed.search.service import search as run_search

    settings = load_settings()
    filters = Filters(
        date_from=parse_day(from_, "--from") if from_ else None,
        date_to=parse_day(to, "--to") if to else None,
        category=category,
        organization=organization,
        author=author,
    )
    with open_db(settings) as db, db.sessions() as session:
        result = run_search(session, SearchIndexes(settings), query, filters=filters, limit=limit)
    if as_json:
        print(json.dumps([_row(hit) for hit in result.hits], ensure_ascii=False, indent=2))
        return
    if not result.hits:
        warn("no papers match")
        return
    for rank, hit in enumerate(result.hits, start=1):
        say(f"{rank:>2}. {' '.join(hit.paper.title.split())}")
        say(f"    arXiv:{hit.paper.arxiv_id} · {hit.why}")


def _row(hit: Hit) -> dict[str, Any]:
    """A hit as `paperfeed search --json` prints it."""
    paper = hit.paper
    return {
        "id": paper.arxiv_id,
        "title": paper.title,
        "authors": [a.name for a in paper.authors],
        "date": str(paper.published_at or paper.announced_on or "") or None,
        "score": round(hit.score, 6),
        "why": str(hit.why),
        "matched": list(hit.why.matched),
        "semantic": None if hit.why.semantic is None else round(hit.why.semantic, 4),
        "url": paper.abs_url,
    }


def embed(
    device: Annotated[str, typer.Option(help="cpu (ONNX Runtime) or cuda (torch, fp16).")] = "cpu",
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Texts per model batch (default: 32 cpu, 2048 cuda).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="minilm, static or mpnet (default: the embedding_model setting)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Embed at most this many.")] = None,
    commit_size: Annotated[
        int | None,
        typer.Option(min=1, help="Papers per committed chunk (default: 1 batch cpu, 32 cuda)."),
    ] = None,
    show_status: Annotated[
        bool, typer.Option("--status", help="Print embedded/total per model and stop.")
    ] = False,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Update the search indexes afterwards.")
    ] = True,
    engine: Annotated[
        str,
        typer.Option(help="inprocess (this process) or ray (Ray Data: GPU actors, CPU workers)."),
    ] = "inprocess",
    address: Annotated[
        str | None,
        typer.Option(help="--engine ray: the cluster to join (default: a local one here)."),
    ] = None,
    actors: Annotated[
        int | None,
        typer.Option(min=1, help="--engine ray: model actors (default: one a GPU)."),
    ] = None,
) -> None:
    """Embed papers with no current vector (new, changed, or under another model); resumable.

    Each chunk commits with its vectors, so a killed run loses at most the chunk in hand and
    the next run continues. With --engine ray the cluster decides the device (a GPU actor per
    card, else CPU actors) and --commit-size is the block. Exit status: 0 done, 1 the model,
    device or cluster is unavailable, 2 a usage error.
    """
    from paperfeed.search import backfill
    from paperfeed.search.embedding import (
        DEVICES,
        KINDS,
        EmbedderUnavailable,
        default_batch_size,
        default_commit_size,
        load_embedder,
    )

    settings = load_settings()
    kind = model or settings.embedding_model
    if kind not in KINDS:
        raise typer.BadParameter(f"--model must be one of {', '.join(KINDS)}, not {kind!r}")
    if device not in DEVICES:
        raise typer.BadParameter(f"--device must be one of {', '.join(DEVICES)}, not {device!r}")
    if engine not in ("inprocess", "ray"):
        raise typer.BadParameter(f"--engine must be inprocess or ray, not {engine!r}")
    with open_db(settings) as db:
        if show_status:
            for line in backfill.status_lines(db, settings):
                say(line)
            return
        if engine == "ray":
            if kind != "minilm" or limit is not None:
                raise typer.BadParameter("--engine ray embeds with minilm and takes no --limit")
            _embed_on_ray(db, settings, address, actors, batch_size, commit_size, index)
            return
        with exit_on(EmbedderUnavailable):
            embedder = load_embedder(settings, kind, device)
        batch = batch_size or default_batch_size(device)
        chunk = commit_size or default_commit_size(device, batch)
        embedded, total = backfill.status(db, embedder.name)
        pending = total - embedded if limit is None else min(limit, total - embedded)
        with progress_bar() as progress, exit_on(EmbedderUnavailable):  # committed chunks stay
            progress.start(f"embedding with {embedder.name}", max(pending, 0) or None)
            result = backfill.embed_pending(
                db, embedder, batch, progress=progress, commit_size=chunk, limit=limit
            )
        embedded, total = backfill.status(db, embedder.name)
        say(
            f"embedded {result.embedded} papers with {embedder.name} on {device} in "
            f"{result.seconds:.1f} s (in the model {result.embed_seconds:.1f} s): "
            f"{result.papers_per_s:.1f} papers/s; "
            f"{embedded}/{total} papers have vectors"
        )
        if result.embedded and index:
            from paperfeed.search.indexer import update_indexes

            update_indexes(db, settings)  # the new vectors join the search index now


def _embed_on_ray(
    db: Any,
    settings: Any,
    address: str | None,
    actors: int | None,
    batch_size: int | None,
    block_size: int | None,
    index: bool,
) -> None:
    """`paperfeed embed --engine ray`: the pending papers through Ray Data, then the indexes."""
    from paperfeed.search import backfill, ray_engine
    from paperfeed.search.embedding import MINILM_NAME

    with exit_on(ray_engine.RayUnavailable):
        ray = ray_engine.connect(address)
    run = ray_engine.plan(
        ray,
        ray_engine.absolute_url(db.url),
        MINILM_NAME,
        actors=actors,
        block_size=block_size,
        batch_size=batch_size,
    )
    embedded, total = backfill.status(db, MINILM_NAME)
    with progress_bar() as progress:
        progress.start(f"embedding with {MINILM_NAME} on Ray", max(total - embedded, 0) or None)
        result = ray_engine.embed_with_ray(ray, run, progress=progress)
    embedded, total = backfill.status(db, MINILM_NAME)
    say(
        f"embedded {result.embedded} papers with {MINILM_NAME} on Ray ({run.actors} "
        f"{run.device} actor(s), blocks of {run.block_size}) in {result.seconds:.1f} s: "
        f"{result.papers_per_s:.1f} papers/s; {embedded}/{total} papers have vectors"
    )
    if result.embedded and index:
        from paperfeed.search.indexer import update_indexes

        update_indexes(db, settings)
