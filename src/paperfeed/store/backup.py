"""Backs a site's state up into one portable archive and restores it, on SQLite or PostgreSQL.

The archive (format "paperfeed-backup", version 1) is a gzipped tar holding:

- `manifest.json`: the format and version, when and from which database kind it was made, the
  Alembic revision of the schema, and per table its columns (each with a codec) and row count;
- `tables/<table>.jsonl`: one JSON array per row, values in the manifest's column order, encoded
  by the column's codec: `json` (the value as JSON), `datetime` / `date` (ISO 8601, naive UTC),
  `bytes` (base64);
- `files/<name>`: the files of the data folder that are state, not derived (STATE_FILES).

It is the same for both databases, so a site moves from SQLite to PostgreSQL and back through
it; pg_dump was not used because its archive restores only into PostgreSQL and needs client tools
of at least the server's version beside paperfeed. The snapshot is consistent: SQLite's online
backup API copies the live file first (writers carry on meanwhile), and PostgreSQL's tables are
read in one REPEATABLE READ, READ ONLY transaction, the snapshot pg_dump itself takes.

Left out, because they are derived and rebuilt: the search indexes, models and caches in the data
folder, and the indexer's outbox (`search_changes`; a restore rebuilds the indexes from scratch).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Integer, MetaData, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SAWarning
from sqlalchemy.types import Date, DateTime, LargeBinary

from paperfeed.core.errors import PaperfeedError
from paperfeed.core.progress import NoProgress, ProgressSink
from paperfeed.core.secrets import SECRET_CHECKPOINT, SECRET_FILE
from paperfeed.store.db import make_engine
from paperfeed.store.migrate import alembic_config, upgrade

FORMAT = "paperfeed-backup"
VERSION = 1
# Files of the data folder that are state: the key that signs sessions and mailed links, and
# the operator's settings. Everything else there (index/, models/, cache/, status files) is derived.
STATE_FILES = ("secret_key", "paperfeed.toml")
# Tables not backed up: Alembic's own (its revision is in the manifest) and derived bookkeeping.
# site_version: page caches key by it; the restored site starts its own count (its migration
# wrote the first row).
SKIPPED_TABLES = {"alembic_version", "search_changes", "site_version"}
BATCH = 1_000  # rows per INSERT on restore


class BackupError(PaperfeedError):
    """A backup or restore refused: a non-empty target, an unknown archive, a newer schema."""


@dataclass
class BackupReport:
    """What a backup wrote or a restore loaded."""

    revision: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


# --- codecs: Python values of a column to JSON and back ---


def _codec(column_type: Any) -> str:
    if isinstance(column_type, LargeBinary):
        return "bytes"
    if isinstance(column_type, DateTime):
        return "datetime"
    if isinstance(column_type, Date):
        return "date"
    return "json"


def _encode(codec: str, value: Any) -> Any:
    if value is None or codec == "json":
        return value
    if codec == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if codec == "datetime" and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def _decode(codec: str, value: Any) -> Any:
    if value is None or codec == "json":
        return value
    if codec == "bytes":
        return base64.b64decode(value)
    if codec == "datetime":
        return datetime.fromisoformat(value)
    return date.fromisoformat(value)


# --- backup ---


def backup(
    database_url: str,
    home: Path,
    dest: Path,
    *,
    progress: ProgressSink | None = None,
) -> BackupReport:
    """Write a consistent backup of the database and the data folder's state files to `dest`.

    The archive appears at `dest` only when complete (written beside it, then renamed).
    """
    progress = progress or NoProgress()
    report = BackupReport()
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".paperfeed-backup-") as work:
        workdir = Path(work)
        tables_meta: list[dict[str, Any]] = []
        with _snapshot(database_url, workdir) as connection:
            report.revision = _revision(connection) or ""
            head = _head()
            if report.revision != head:
                raise BackupError(
                    f"the database's schema is at revision {report.revision or 'none'}, not "
                    f"{head}: run `paperfeed db upgrade` first"
                )
            metadata = _reflect(connection)
            tables = [t for t in metadata.sorted_tables if _backed_up(t.name)]
            total = sum(_count(connection, t) for t in tables)
            progress.start("backing up", total)
            for table in tables:
                columns = [(c.name, _codec(c.type)) for c in table.columns]
                rows = _write_table(connection, table, columns, workdir, progress)
                report.rows[table.name] = rows
                tables_meta.append({"name": table.name, "columns": columns, "rows": rows})
        report.files = [name for name in STATE_FILES if (home / name).is_file()]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created": datetime.now(UTC).isoformat(),
            "source": make_url(database_url).get_backend_name(),
            "revision": report.revision,
            "tables": tables_meta,
            "files": report.files,
        }
        partial = workdir / "backup.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=1).encode())
            for meta in tables_meta:
                archive.add(workdir / f"{meta['name']}.jsonl", f"tables/{meta['name']}.jsonl")
            for name in report.files:
                archive.add(home / name, f"files/{name}")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, dest)
    return report


@contextmanager
def _snapshot(database_url: str, workdir: Path) -> Iterator[Connection]:
    """A connection that sees one consistent state of the database for as long as it is open."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        copy = workdir / "snapshot.db"
        source = sqlite3.connect(url.database or ":memory:", timeout=30)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)  # SQLite's online backup: a consistent copy of a live file
        finally:
            target.close()
            source.close()
        engine = make_engine(f"sqlite:///{copy}")
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()
            copy.unlink(missing_ok=True)
        return
    engine = make_engine(database_url)
    try:
        snapshot = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with snapshot as connection, connection.begin():
            connection.execute(text("SET TRANSACTION READ ONLY"))
            yield connection
    finally:
        engine.dispose()


def _write_table(
    connection: Connection,
    table: Table,
    columns: list[tuple[str, str]],
    workdir: Path,
    progress: ProgressSink,
) -> int:
    order = list(table.primary_key.columns) or list(table.columns)
    result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(
        select(table).order_by(*order)
    )
    rows = 0
    with open(workdir / f"{table.name}.jsonl", "w", encoding="utf-8") as out:
        for row in result:
            values = [_encode(codec, value) for (_, codec), value in zip(columns, row, strict=True)]
            out.write(json.dumps(values, ensure_ascii=False, separators=(",", ":")) + "\n")
            rows += 1
            if rows % BATCH == 0:
                progress.advance(BATCH)
    progress.advance(rows % BATCH)
    return rows


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


# --- restore ---


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of a backup archive, or a BackupError saying why it is not one."""
    try:
        with tarfile.open(src, "r:gz") as archive:
            member = archive.extractfile("manifest.json")
            manifest = json.loads(member.read()) if member else None
    except (OSError, KeyError, tarfile.TarError, json.JSONDecodeError) as error:
        raise BackupError(f"{src} is not a paperfeed backup: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{src} is not a paperfeed backup (no {FORMAT} manifest)")
    if manifest.get("version") != VERSION:
        raise BackupError(f"{src} is backup format {manifest.get('version')}; this reads {VERSION}")
    return manifest


def restore(
    src: Path,
    database_url: str,
    home: Path,
    *,
    force: bool = False,
    progress: ProgressSink | None = None,
) -> BackupReport:
    """Load a backup into the database and data folder, which must be empty unless `force`.

    With `force`, every table of the target database is dropped first and the state files are
    overwritten. The rows load in one transaction: a failed restore leaves the tables empty. The
    caller rebuilds the search indexes afterwards (they are not in the backup).
    """
    progress = progress or NoProgress()
    manifest = read_manifest(src)
    revision = manifest["revision"]
    try:
        known = _script().get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for malformed or unknown revisions
        known = False
    if not known:
        raise BackupError(
            f"the backup's schema revision {revision} is unknown to this paperfeed (newer?)"
        )
    engine = make_engine(database_url)
    try:
        _prepare_target(engine, manifest, home, force=force)
        upgrade(engine, revision)  # the backup's schema; migrated to the latest after the load
        report = BackupReport(revision=revision)
        progress.start("restoring", sum(t["rows"] for t in manifest["tables"]))
        with tarfile.open(src, "r:gz") as archive, engine.begin() as connection:
            metadata = _reflect(connection)
            for meta in manifest["tables"]:
                report.rows[meta["name"]] = _load_table(
                    connection, archive, metadata, meta, progress.advance
                )
            if connection.dialect.name == "postgresql":
                _reset_sequences(connection, metadata, [t["name"] for t in manifest["tables"]])
            for name in manifest["files"]:
                _restore_file(archive, name, home)
                report.files.append(name)
            _carry_secret(connection, home)
        upgrade(engine, "head")
    finally:
        engine.dispose()
    return report


def _prepare_target(engine: Engine, manifest: dict[str, Any], home: Path, *, force: bool) -> None:
    """Refuse a target holding data (unless `force`: then drop every table)."""
    with engine.connect() as connection:
        metadata = _reflect(connection)
        filled = [
            t.name
            for t in metadata.sorted_tables
            if t.name != "alembic_version" and _count(connection, t)
        ]
    clashing = [
        name for name in manifest["files"] if name != "paperfeed.toml" and (home / name).exists()
    ]
    if (filled or clashing) and not force:
        what = ", ".join(
            [f"table {name}" for name in filled[:5]] + [str(home / n) for n in clashing]
        )
        raise BackupError(f"the target is not empty ({what}); restore with --force to replace it")
    if metadata.tables:
        with engine.begin() as connection:
            metadata.drop_all(connection)


def _load_table(
    connection: Connection,
    archive: tarfile.TarFile,
    metadata: MetaData,
    meta: dict[str, Any],
    advance: Callable[[int], None],
) -> int:
    name = meta["name"]
    table = metadata.tables.get(name)
    names = [column for column, _ in meta["columns"]]
    if table is None or set(names) - set(table.columns.keys()):
        raise BackupError(f"table {name} of the backup does not match the schema at its revision")
    codecs = [codec for _, codec in meta["columns"]]
    member = archive.extractfile(f"tables/{name}.jsonl")
    if member is None:
        raise BackupError(f"the backup lacks tables/{name}.jsonl")
    batch: list[dict[str, Any]] = []
    rows = 0
    for line in io.TextIOWrapper(member, encoding="utf-8"):
        values = json.loads(line)
        batch.append({n: _decode(c, v) for n, c, v in zip(names, codecs, values, strict=True)})
        if len(batch) == BATCH:
            connection.execute(insert(table), batch)
            rows += len(batch)
            advance(len(batch))
            batch = []
    if batch:
        connection.execute(insert(table), batch)
        rows += len(batch)
        advance(len(batch))
    if rows != meta["rows"]:
        raise BackupError(
            f"table {name}: the backup holds {rows} rows, its manifest {meta['rows']}"
        )
    return rows


def _reset_sequences(connection: Connection, metadata: MetaData, names: list[str]) -> None:
    """Move each serial id's sequence past the restored ids (rows came with their ids)."""
    for name in names:
        table = metadata.tables[name]
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        column = keys[0].name
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f'COALESCE(MAX("{column}"), 1), MAX("{column}") IS NOT NULL) FROM "{name}"'
            ),
            {"table": name, "column": column},
        )


def _backed_up(table: str) -> bool:
    """Paperfeed's own tables; the job queue's (procrastinate_*) hold only transient jobs, and
    its periodic ones are deferred again by the next worker."""
    return table not in SKIPPED_TABLES and not table.startswith("procrastinate_")


def _carry_secret(connection: Connection, home: Path) -> None:
    """Keep the site secret across databases: SQLite keeps it in the data folder's file,
    PostgreSQL in the checkpoints table (core/secrets.py), so a backup of one restored into
    the other moves it over; signed links and cookies stay valid."""
    row = connection.execute(
        text("SELECT state FROM checkpoints WHERE key = :key"), {"key": SECRET_CHECKPOINT}
    ).first()
    path = home / SECRET_FILE
    if connection.dialect.name == "postgresql":
        if row is None and path.is_file() and path.read_text().strip():
            connection.execute(
                text(
                    "INSERT INTO checkpoints (key, state, updated_at) "
                    "VALUES (:key, CAST(:state AS JSON), now() AT TIME ZONE 'utc')"
                ),
                {"key": SECRET_CHECKPOINT, "state": json.dumps({"key": path.read_text().strip()})},
            )
    elif row is not None and not path.exists():
        state = row[0] if isinstance(row[0], dict) else json.loads(row[0])
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(str(state["key"]))


def _restore_file(archive: tarfile.TarFile, name: str, home: Path) -> None:
    if name not in STATE_FILES:
        raise BackupError(f"the backup holds an unexpected file {name}")
    member = archive.extractfile(f"files/{name}")
    if member is None:
        raise BackupError(f"the backup lacks files/{name}")
    home.mkdir(parents=True, exist_ok=True)
    target = home / name
    if name == "paperfeed.toml" and target.exists():
        # The target's own settings (its database URL, say) stay; the backup's are set beside.
        target = home / "paperfeed.toml.from-backup"
    partial = home / f".{name}.restoring"
    with open(partial, "wb") as out:
        shutil.copyfileobj(member, out)
    partial.chmod(0o600)
    os.replace(partial, target)


def _reflect(connection: Connection) -> MetaData:
    """The tables as the database has them (the schema of the revision it is at)."""
    metadata = MetaData()
    with warnings.catch_warnings():  # expression indexes are not needed to copy rows
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
        metadata.reflect(connection)
    return metadata


def _count(connection: Connection, table: Table) -> int:
    return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))


def _head() -> str:
    head = _script().get_current_head()
    assert head is not None
    return head
