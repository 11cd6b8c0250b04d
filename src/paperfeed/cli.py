"""The `paperfeed` command: every operator task, from setting up to serving and importing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.engine import make_url

from paperfeed import logs
from paperfeed.ingest.http import RemoteError
from paperfeed.ingest.report import IngestReport
from paperfeed.settings import Settings, get_settings
from paperfeed.store.db import Database

app = typer.Typer(
    help="paperfeed: a self-hosted research-paper discovery service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
ingest_app = typer.Typer(help="Import paper metadata.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")
digest_app = typer.Typer(help="Email digests: send, preview, schedule.", no_args_is_help=True)
app.add_typer(digest_app, name="digest")

user_app = typer.Typer(help="Local accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
token_app = typer.Typer(help="Personal API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

# Exit status of an import that saved the good records but rejected some.
EXIT_REJECTED = 3


class BarProgress:
    """A ProgressSink drawn with rich on stderr (hidden when stderr is not a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = None

    def start(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no bar, and no stray blank line, in logs and pipes
    )


def _settings() -> Settings:
    settings = get_settings()
    logs.configure(settings.log_level)
    settings.ensure_home()
    return settings


def _open_db(settings: Settings) -> Database:
    return Database(settings.database_url)


def _finish(report: IngestReport, what: str) -> None:
    """Print the summary and every rejection, then exit with the documented status."""
    _summary(report, what)
    if report.rejected:
        err.print(f"{len(report.rejected)} rejected; everything else was imported.")
        raise typer.Exit(EXIT_REJECTED)


@contextmanager
def _remote_errors(advice: str) -> Iterator[None]:
    """Turn a remote source's final failure into one clear line and exit status 1."""
    try:
        yield
    except RemoteError as error:
        err.print(f"error: {error}; {advice}", highlight=False, markup=False)
        raise typer.Exit(1) from None


def _summary(report: IngestReport, what: str) -> None:
    papers, entries = report.saved.papers, report.saved.entries
    line = (
        f"{what}: papers {papers.inserted} new, {papers.updated} updated, "
        f"{papers.unchanged} unchanged"
    )
    if entries.inserted or entries.updated or entries.unchanged:
        line += (
            f"; daily listings {entries.inserted} new, {entries.updated} updated, "
            f"{entries.unchanged} unchanged"
        )
    if report.skipped_sources:
        line += f"; {len(report.skipped_sources)} source(s) already imported, skipped"
    out.print(line, highlight=False)
    for rejection in report.rejected:
        err.print(f"rejected {rejection}", highlight=False, markup=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    settings = _settings()
    _open_db(settings).close()
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    out.print(f"database is up to date: {shown}", highlight=False)


@ingest_app.command("hf-daily")
def ingest_hf_daily(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders of saved GET /api/daily_papers responses."),
    ] = None,
    day: Annotated[
        str | None, typer.Option("--date", help="Fetch this day (YYYY-MM-DD) from the endpoint.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Fetch every day from this one (YYYY-MM-DD).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day to fetch (default: today).")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Hugging Face API base URL (default: the public one).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Re-read files already imported.")] = False,
) -> None:
    """Import Hugging Face daily papers from saved JSON files or a live endpoint.

    Exit status: 0 all imported, 3 some files or records rejected (listed on stderr).
    """
    from paperfeed.ingest import hf_daily

    settings = _settings()
    if not paths and not (day or from_):
        raise typer.BadParameter("give PATH... to import files, or --date / --from to fetch")
    days = _days(day, from_, to) if (day or from_) else []
    db = _open_db(settings)
    with _progress() as bar:
        progress = BarProgress(bar)
        report = IngestReport()
        if paths:
            report = hf_daily.import_paths(db, paths, progress=progress, force=force)
        if days:
            fetched = hf_daily.fetch_days(
                db, days, endpoint=endpoint or settings.hf_endpoint, settings=settings,
                progress=progress,
            )  # fmt: skip
            report.saved.papers.add(fetched.saved.papers)
            report.saved.entries.add(fetched.saved.entries)
            report.rejected.extend(fetched.rejected)
    _update_search_index(db, settings)
    _finish(report, "hf-daily")


@ingest_app.command("arxiv-jsonl")
def ingest_arxiv_jsonl(
    path: Annotated[
        Path, typer.Argument(help="arXiv bulk-metadata snapshot, .jsonl or .jsonl.gz.")
    ],
    force: Annotated[bool, typer.Option(help="Start again from the first line.")] = False,
) -> None:
    """Import the arXiv bulk-metadata snapshot (JSON lines); an interrupted run resumes.

    Exit status: 0 all imported, 3 some records rejected (listed on stderr).
    """
    from paperfeed.ingest import arxiv_jsonl

    settings = _settings()
    db = _open_db(settings)
    with _progress() as bar:
        report = arxiv_jsonl.import_file(db, path, progress=BarProgress(bar), restart=force)
    _update_search_index(db, settings)
    _finish(report, "arxiv-jsonl")


@ingest_app.command("oai")
def ingest_oai(
    from_: Annotated[str, typer.Option("--from", help="First datestamp (YYYY-MM-DD).")],
    until: Annotated[str | None, typer.Option(help="Last datestamp (YYYY-MM-DD).")] = None,
    set_: Annotated[str | None, typer.Option("--set", help="OAI set, e.g. cs.")] = "cs",
    url: Annotated[str | None, typer.Option(help="OAI-PMH base URL (default: arXiv's).")] = None,
    delay: Annotated[
        float | None, typer.Option(help="Seconds between requests (default: settings).")
    ] = None,
    restart: Annotated[
        bool, typer.Option(help="Ignore the checkpoint of an interrupted harvest.")
    ] = False,
) -> None:
    """Harvest arXiv metadata over OAI-PMH; a killed harvest resumes from its checkpoint.

    Exit status: 0 all imported, 3 some records rejected (listed on stderr), 1 the source failed
    (run again to resume).
    """
    from paperfeed.ingest import oai

    settings = _settings()
    db = _open_db(settings)
    with _progress() as bar, _remote_errors("the next run resumes from the last page saved"):
        report = oai.harvest(
            db,
            url=url or settings.oai_url,
            from_date=_parse_day(from_, "--from"),
            until_date=_parse_day(until, "--until") if until else None,
            set_spec=set_ or None,
            delay_s=settings.http_delay_s if delay is None else delay,
            settings=settings,
            progress=BarProgress(bar),
            restart=restart,
        )
    _update_search_index(db, settings)
    _finish(report, "oai")


@app.command()
def quickstart(
    data: Annotated[
        Path | None,
        typer.Option(help="Folder of the shared data sets (default: found beside the checkout)."),
    ] = None,
    serve_site: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the site when the import is done.")
    ] = True,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Set up a site on real papers and start it: one command for a newcomer.

    Imports the shared data sets when they are found (every Hugging Face daily listing and the
    arXiv snapshot, about half a minute), otherwise the last week from Hugging Face and arXiv's
    OAI-PMH service. Sources already imported are skipped, so running it again is quick.
    """
    from paperfeed.ingest import quickstart as setup

    settings = _settings()
    db = _open_db(settings)
    data_dir = setup.find_data_dir(data)
    with _progress() as bar:
        if data_dir:
            err.print(f"importing the data sets in {data_dir}", highlight=False)
            reports = setup.import_local(db, data_dir, BarProgress(bar))
        else:
            err.print("no local data sets found: fetching the last week from the live sources")
            reports = setup.import_live(db, settings, BarProgress(bar))
    for name, report in reports:
        _summary(report, name)
    _update_search_index(db, settings)
    db.close()
    if serve_site:
        serve(host=host, port=port, workers=1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Web worker processes.")] = 1,
) -> None:
    """Run the web site and JSON API."""
    import uvicorn

    settings = _settings()
    _open_db(settings).close()  # migrate once, before any worker starts
    host, port = host or settings.host, port or settings.port
    err.print(f"paperfeed on http://{host}:{port}/  (Ctrl+C stops)", highlight=False)
    uvicorn.run(
        "paperfeed.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


@app.command()
def embed(
    device: Annotated[str, typer.Option(help="cpu (ONNX Runtime) or cuda (torch, fp16).")] = "cpu",
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Texts per model batch (default: 32 cpu, 2048 cuda).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="minilm or static (default: the embedding_model setting).")
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
) -> None:
    """Embed papers with no current vector (new, changed, or under another model); resumable.

    Each chunk commits with its vectors, so a killed run loses at most the chunk in hand and
    the next run continues. Exit status: 0 done, 1 the model or device is unavailable, 2 a
    usage error.
    """
    from paperfeed.search import backfill
    from paperfeed.search.embed import DEVICES, KINDS, EmbedderUnavailable, load_embedder

    settings = _settings()
    kind = model or settings.embedding_model
    if kind not in KINDS:
        raise typer.BadParameter(f"--model must be one of {', '.join(KINDS)}, not {kind!r}")
    if device not in DEVICES:
        raise typer.BadParameter(f"--device must be one of {', '.join(DEVICES)}, not {device!r}")
    db = _open_db(settings)
    if show_status:
        for line in backfill.status_lines(db, settings):
            out.print(line, highlight=False)
        return
    try:
        embedder = load_embedder(settings, kind, device)
    except EmbedderUnavailable as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    batch = batch_size or (2048 if device == "cuda" else 32)  # 2048: fastest on an H100
    chunk = commit_size or (batch * 32 if device == "cuda" else batch)
    embedded, total = backfill.status(db, embedder.name)
    pending = total - embedded if limit is None else min(limit, total - embedded)
    with _progress() as bar:
        progress = BarProgress(bar)
        progress.start(f"embedding with {embedder.name}", max(pending, 0) or None)
        try:
            result = backfill.embed_pending(
                db, embedder, batch, progress=progress, commit_size=chunk, limit=limit
            )
        except EmbedderUnavailable as error:  # chunks committed so far are kept
            err.print(f"error: {error}", highlight=False, markup=False)
            raise typer.Exit(1) from None
    embedded, total = backfill.status(db, embedder.name)
    out.print(
        f"embedded {result.embedded} papers with {embedder.name} on {device} in "
        f"{result.seconds:.1f} s (in the model {result.embed_seconds:.1f} s): "
        f"{result.papers_per_s:.1f} papers/s; "
        f"{embedded}/{total} papers have vectors",
        highlight=False,
    )
    if result.embedded and index:
        from paperfeed.search.indexer import update_indexes

        update_indexes(db, settings)  # the new vectors join the search index now


@digest_app.command("send")
def digest_send(
    period: Annotated[str, typer.Option("--period", help="daily or weekly.")] = "daily",
    day: Annotated[
        str | None,
        typer.Option("--date", help="A day of the period (default: yesterday, or last week)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes composing digests (one per core).")
    ] = 1,
) -> None:
    """Compose the period's digests and send every mail due; a killed run resumes exactly.

    Exit status: 0 all sent, 1 the SMTP server failed (the rest waits for the next run).
    """
    from paperfeed.digest import compose, service

    settings = _settings()
    frequency = _frequency(period)
    when = _parse_day(day, "--date") if day else compose.default_day(frequency)
    db = _open_db(settings)
    with _progress() as bar:
        composed, sent = service.send_digests(
            db, settings, frequency, when, workers=workers, progress=BarProgress(bar)
        )
    if not composed.papers:
        out.print(f"{composed.key}: no papers in this period (a weekend or holiday?), "
                  "so no digest", highlight=False)  # fmt: skip
    else:
        out.print(
            f"{composed.key}: {composed.papers} papers; {composed.composed} digests composed, "
            f"{composed.nothing_new} with nothing new, {composed.already} composed before",
            highlight=False,
        )
    out.print(
        f"sent {sent.sent} mails; {sent.bounced} bounced, {sent.refused} refused, "
        f"{sent.dropped} dropped (left)",
        highlight=False,
    )
    if sent.stopped:
        err.print(f"error: stopped: {sent.stopped}; run again to send the rest",
                  highlight=False, markup=False)  # fmt: skip
        raise typer.Exit(1)


@digest_app.command("preview")
def digest_preview(
    email: Annotated[str, typer.Option("--email", help="The subscriber's address.")],
    period: Annotated[
        str | None, typer.Option("--period", help="daily or weekly (default: theirs).")
    ] = None,
    day: Annotated[
        str | None, typer.Option("--date", help="A day of the period (default: the next one).")
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part.")] = False,
) -> None:
    """Print the next digest of a subscriber (or of a new one) without sending it."""
    from paperfeed.digest import service, subscriptions
    from paperfeed.domain import InvalidEmail, normalize_email

    settings = _settings()
    try:
        address = normalize_email(email)
    except InvalidEmail as error:
        raise typer.BadParameter(str(error)) from None
    db = _open_db(settings)
    with db.sessions() as session:
        row = subscriptions.by_email(session, address)
        if row is None:
            err.print(f"{address} is not subscribed: previewing the default daily digest")
            row = service.unsaved_subscription(address)
        shown = service.preview(
            session, settings, row, _frequency(period) if period else None,
            _parse_day(day, "--date") if day else None,
        )  # fmt: skip
    if shown is None:
        err.print("error: no papers yet; import some first")
        raise typer.Exit(1)
    if shown.note:
        err.print(shown.note, highlight=False)
    if html:
        print(shown.html)
    else:
        print(f"Subject: {shown.subject}\n\n{shown.text}")


@digest_app.command("schedule")
def digest_schedule() -> None:
    """Run the digest schedule in the foreground: daily at the send time, weekly on Mondays."""
    import contextlib
    import threading

    from paperfeed.digest import schedule

    settings = _settings()
    db = _open_db(settings)
    err.print(f"sending digests daily at {settings.digest_send_time} UTC (Ctrl+C stops)")
    with contextlib.suppress(KeyboardInterrupt):
        schedule.run_forever(db, settings, threading.Event())


def _frequency(text: str):
    if text not in ("daily", "weekly"):
        raise typer.BadParameter(f"--period must be daily or weekly, not {text!r}")
    return text


def _parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None


def _days(day: str | None, from_: str | None, to: str | None) -> list[date]:
    if day:
        return [_parse_day(day, "--date")]
    first = _parse_day(from_, "--from")  # type: ignore[arg-type]
    last = _parse_day(to, "--to") if to else date.today()
    if last < first:
        raise typer.BadParameter("--to is before --from")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="2-40 letters, digits, '-' or '_'.")],
    email: Annotated[str, typer.Option(help="The account's email address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    admin: Annotated[bool, typer.Option(help="Make the account an admin.")] = False,
) -> None:
    """Create an account (exit status 1 if it cannot be: taken name, weak password...)."""
    from paperfeed.community import accounts

    if not password_stdin:
        raise typer.BadParameter("give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    settings = _settings()
    database = _open_db(settings)
    try:
        with database.transaction() as session:
            user = accounts.create_user(session, username, email, password, admin=admin or None)
    except accounts.AccountError as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    finally:
        database.close()
    role = "admin" if user.is_admin else "user"
    out.print(f"created {role} {user.username}", highlight=False, markup=False)


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="A name to tell the token apart.")] = "command line",
    days: Annotated[
        int | None, typer.Option(min=1, help="Expire after this many days (default: never).")
    ] = None,
) -> None:
    """Print a new API token for USERNAME (only its hash is stored: keep it now)."""
    from paperfeed.community import accounts

    settings = _settings()
    database = _open_db(settings)
    try:
        with database.transaction() as session:
            user = accounts.get_user(session, username)
            if user is None:
                err.print(f"error: no user {username!r}", highlight=False, markup=False)
                raise typer.Exit(1)
            token = accounts.create_token(session, user, name, days=days)
    finally:
        database.close()
    print(token.secret)



# --- search: index, search, eval (issue 3) ---
eval_app = typer.Typer(help="Measure ranking quality on judged data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _update_search_index(db: Database, settings: Settings) -> None:
    """Bring the search indexes up to date after an import, so new papers are searchable."""
    from paperfeed.search.indexer import update_indexes

    with _progress() as bar:
        update_indexes(db, settings, progress=BarProgress(bar))


@app.command()
def index(
    rebuild: Annotated[
        bool, typer.Option(help="Build both indexes again from the store, then swap them in.")
    ] = False,
) -> None:
    """Bring the search indexes (BM25 and vectors) up to date with the store.

    Updates are incremental: the papers changed since the last run are re-indexed, and the vector
    index is rebuilt when the stored vectors changed. An interrupted run leaves the previous
    index in place; running it again finishes the work.
    """
    from paperfeed.search.indexer import update_indexes

    settings = _settings()
    db = _open_db(settings)
    with _progress() as bar:
        report = update_indexes(db, settings, rebuild=rebuild, progress=BarProgress(bar))
    db.close()
    lexical = "rebuilt" if report.lexical_rebuilt else f"{report.lexical_updated} papers updated"
    line = f"search index: BM25 {lexical}, {report.lexical_total} papers"
    if report.vector_model:
        state = "rebuilt" if report.vectors_rebuilt else "up to date"
        line += f"; vectors ({report.vector_model}) {state}, {report.vectors_total} papers"
    else:
        line += "; vectors off (search_dense = false)"
    out.print(f"{line} ({report.seconds:.1f} s)", highlight=False)


@app.command()
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
    import json

    from paperfeed.search.lexical import Filters
    from paperfeed.search.service import SearchIndexes
    from paperfeed.search.service import search as run_search

    settings = _settings()
    filters = Filters(
        date_from=_parse_day(from_, "--from") if from_ else None,
        date_to=_parse_day(to, "--to") if to else None,
        category=category,
        organization=organization,
        author=author,
    )
    db = _open_db(settings)
    with db.sessions() as session:
        result = run_search(session, SearchIndexes(settings), query, filters=filters, limit=limit)
    db.close()
    if as_json:
        rows = [
            {
                "id": hit.paper.arxiv_id,
                "title": hit.paper.title,
                "authors": [a.name for a in hit.paper.authors],
                "date": str(hit.paper.published_at or hit.paper.announced_on or "") or None,
                "score": round(hit.score, 6),
                "why": str(hit.why),
                "matched": list(hit.why.matched),
                "semantic": None if hit.why.semantic is None else round(hit.why.semantic, 4),
                "url": hit.paper.abs_url,
            }
            for hit in result.hits
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not result.hits:
        err.print("no papers match", highlight=False)
        return
    for rank, hit in enumerate(result.hits, start=1):
        out.print(f"{rank:>2}. {' '.join(hit.paper.title.split())}", highlight=False, markup=False)
        out.print(f"    arXiv:{hit.paper.arxiv_id} · {hit.why}", highlight=False, markup=False)


def _eval_kinds(models: str) -> list[str]:
    from paperfeed.search.embed import KINDS

    kinds = [m.strip() for m in models.split(",") if m.strip() and m.strip() != "none"]
    for kind in kinds:
        if kind not in KINDS:
            raise typer.BadParameter(f"--models: {kind!r} is not one of {', '.join(KINDS)}, none")
    return kinds


def _print_eval(result: dict, as_json: bool, extra: str) -> None:
    import json

    if as_json:
        print(json.dumps(result, indent=2))
        return
    methods = [k for k, v in result.items() if isinstance(v, dict)]
    metrics = [k for k in ("ndcg@10", "map", "recall@10") if k in result[methods[0]]]
    out.print(f"{'':<16}" + "".join(f"{m:>11}" for m in metrics), highlight=False)
    for method in methods:
        row = "".join(f"{result[method][m]:>11.4f}" for m in metrics)
        out.print(f"{method:<16}{row}", highlight=False)
    groups = result[methods[0]].get(extra, {})
    for group in groups:
        out.print(f"\n{extra[:-1]} {group}", highlight=False)
        for method in methods:
            row = "".join(f"{result[method][extra][group][m]:>11.4f}" for m in metrics)
            out.print(f"{method:<16}{row}", highlight=False)


@eval_app.command("similar")
def eval_similar(
    csfcube: Annotated[Path, typer.Option(help="Folder of the CSFCube test collection.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    models: Annotated[
        str, typer.Option(help="Embedding models to compare, comma-separated (minilm,static).")
    ] = "minilm,static",
) -> None:
    """nDCG@10 and MAP of similar-paper ranking on CSFCube: BM25, dense and hybrid.

    Each of the 50 query papers' judged candidate pool is ranked (the query paper left out);
    figures are means over all queries (background, method and result facets alike), with each
    facet's mean listed too. MAP counts grades 2 and 3 as relevant. Vectors of the collection are
    cached in the data folder, so only the first run embeds.
    """
    from paperfeed.search import evaluate

    settings = _settings()
    kinds = _eval_kinds(models)
    try:
        with _progress() as bar:
            result = evaluate.run_similar(settings, csfcube, kinds, progress=BarProgress(bar))
    except evaluate.EvalDataMissing as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    _print_eval(result, as_json, "facets")


@eval_app.command("queries")
def eval_queries(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    corpus: Annotated[int, typer.Option(min=10, help="Papers in the corpus.")] = 3000,
    queries: Annotated[int, typer.Option(min=1, help="Queries of each style.")] = 300,
    models: Annotated[
        str, typer.Option(help="Embedding models to compare, comma-separated (minilm,static).")
    ] = "minilm,static",
) -> None:
    """Known-item search on stored papers: can a query written about a paper find it?

    The corpus is a fixed random sample of stored papers that Hugging Face summarized; each
    query is one of them's AI summary (a paraphrase) or AI keywords, and only that paper counts
    as relevant. Prints nDCG@10, MAP (= MRR@10 here) and recall@10 for BM25, dense and hybrid.
    """
    from paperfeed.search import evaluate

    settings = _settings()
    kinds = _eval_kinds(models)
    db = _open_db(settings)
    try:
        with db.sessions() as session, _progress() as bar:
            result = evaluate.run_known_items(
                settings, session, kinds, corpus, queries, progress=BarProgress(bar)
            )
    except evaluate.EvalDataMissing as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    finally:
        db.close()
    _print_eval(result, as_json, "styles")


if __name__ == "__main__":
    app()
