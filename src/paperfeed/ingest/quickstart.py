"""Fills a new site with real papers: a local copy of the data sets, else the live sources."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from paperfeed.core.progress import NoProgress, ProgressSink
from paperfeed.ingest import arxiv_jsonl, hf_daily, oai
from paperfeed.ingest.http import RemoteError
from paperfeed.ingest.report import IngestReport
from paperfeed.settings import Settings
from paperfeed.store.db import Database

HF_FOLDER = Path("hf-daily-papers/api")
ARXIV_SNAPSHOTS = Path("arxiv-cs")
# Without local data: this many recent days from Hugging Face and arXiv.
LIVE_DAYS = 7


def find_data_dir(start: Path | None = None) -> Path | None:
    """The shared data folder (`shared/data` beside the checkout or the working directory)."""
    here = Path(__file__).resolve()
    candidates = [Path.cwd() / "../shared/data", Path.cwd() / "shared/data"]
    candidates += [parent / "../shared/data" for parent in here.parents[:5]]
    if start:
        candidates.insert(0, start)
    for candidate in candidates:
        if (candidate / HF_FOLDER).is_dir() or (candidate / ARXIV_SNAPSHOTS).is_dir():
            return candidate.resolve()
    return None


def import_local(
    db: Database, data_dir: Path, progress: ProgressSink
) -> list[tuple[str, IngestReport]]:
    """Import the Hugging Face listings, then every arXiv snapshot, from a data folder."""
    reports = []
    if (data_dir / HF_FOLDER).is_dir():
        reports.append(
            ("hf-daily", hf_daily.import_paths(db, [data_dir / HF_FOLDER], progress=progress))
        )
    for snapshot in sorted((data_dir / ARXIV_SNAPSHOTS).glob("*.jsonl*")):
        reports.append((snapshot.name, arxiv_jsonl.import_file(db, snapshot, progress=progress)))
    return reports


def import_live(
    db: Database,
    settings: Settings,
    progress: ProgressSink | None = None,
    today: date | None = None,
) -> list[tuple[str, IngestReport]]:
    """Fetch the last days' Hugging Face listings and arXiv cs records from the live services."""
    progress = progress or NoProgress()
    today = today or date.today()
    first = today - timedelta(days=LIVE_DAYS - 1)
    days = [first + timedelta(days=n) for n in range(LIVE_DAYS)]
    reports = [
        (
            "hf-daily",
            hf_daily.fetch_days(
                db, days, endpoint=settings.hf_endpoint, settings=settings, progress=progress
            ),
        )
    ]
    try:
        harvested = oai.harvest(
            db,
            url=settings.oai_url,
            from_date=first,
            until_date=None,
            set_spec="cs",
            delay_s=settings.http_delay_s,
            settings=settings,
            progress=progress,
            restart=False,
        )
    except RemoteError as error:
        failed = IngestReport()
        failed.reject(settings.oai_url, str(error))
        reports.append(("arxiv oai", failed))
    else:
        reports.append(("arxiv oai", harvested))
    return reports
