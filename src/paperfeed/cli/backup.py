"""`paperfeed backup` and `paperfeed restore`: the site's state to one archive and back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paperfeed.cli.common import exit_on, load_settings, open_db, progress_bar, say, warn


def backup(
    dest: Annotated[Path, typer.Argument(help="The archive to write (a .tar.gz).")],
) -> None:
    """Write a consistent backup of the database and the data folder's state, while the site runs.

    Search indexes, models and caches are left out: `paperfeed restore` rebuilds them.
    """
    from paperfeed.store import backup as store_backup

    settings = load_settings()
    with exit_on(store_backup.BackupError), progress_bar() as progress:
        report = store_backup.backup(settings.database_url, settings.home, dest, progress=progress)
    rows = sum(report.rows.values())
    say(
        f"backed up {rows} rows of {len(report.rows)} tables and {len(report.files)} file(s) "
        f"(schema {report.revision}) to {dest}"
    )


def restore(
    src: Annotated[Path, typer.Argument(help="A backup archive `paperfeed backup` wrote.")],
    force: Annotated[
        bool, typer.Option(help="Replace a database and data folder that hold data already.")
    ] = False,
) -> None:
    """Restore a backup into an empty database and data folder, then rebuild the search indexes."""
    from paperfeed.search.indexer import update_indexes
    from paperfeed.store import backup as store_backup

    settings = load_settings()
    with exit_on(store_backup.BackupError), progress_bar() as progress:
        report = store_backup.restore(
            src, settings.database_url, settings.home, force=force, progress=progress
        )
    say(
        f"restored {sum(report.rows.values())} rows of {len(report.rows)} tables and "
        f"{len(report.files)} file(s) (schema {report.revision})"
    )
    if (settings.home / "paperfeed.toml.from-backup").exists():
        warn("the backup's settings are in paperfeed.toml.from-backup (paperfeed.toml was kept)")
    with open_db(settings) as db, progress_bar() as progress:
        index = update_indexes(db, settings, rebuild=True, progress=progress)
    say(f"search indexes rebuilt: {index.lexical_total} papers")
