"""`paperfeed embed`, its status, a killed backfill resuming, and the site's background embedder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from paperfeed.search.embedding import MINILM_NAME, STATIC_NAME, Embedder, paper_text
from paperfeed.search.indexer import vectors_path
from paperfeed.search.vectors.store import embedding_marker, load_vectors
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import PaperEmbeddingRow, PaperRow
from paperfeed.web.app import create_app


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", *args], capture_output=True, text=True
    )


def _home_db(home: Path, arxiv_sample, count: int) -> Database:
    imported = _cli("ingest", "arxiv-jsonl", str(arxiv_sample(count)))
    assert imported.returncode == 0, imported.stderr
    return Database(f"sqlite:///{home / 'paperfeed.db'}", migrate=False)


def _niceness(stat: Path) -> int:
    """The niceness of a thread or process from its /proc stat file."""
    return int(stat.read_text().rsplit(")", 1)[1].split()[16])


def _vector_count(db: Database) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(PaperEmbeddingRow))


def test_killed_backfill_resumes_and_loses_nothing(
    home_with_models: Path, arxiv_sample, minilm: Embedder
) -> None:
    db = _home_db(home_with_models, arxiv_sample, 64)
    command = [sys.executable, "-m", "paperfeed.cli", "embed", "--batch-size", "8"]
    command += ["--commit-size", "8"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _vector_count(db) < 8 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _vector_count(db)

    assert 8 <= done < 64, "the kill should land mid-run"
    assert done % 8 == 0  # whole batches commit, nothing half-written

    rerun = _cli("embed", "--batch-size", "8")

    assert rerun.returncode == 0, rerun.stderr
    assert f"embedded {64 - done} papers with {MINILM_NAME} on cpu" in rerun.stdout
    assert "papers/s" in rerun.stdout and "64/64 papers have vectors" in rerun.stdout
    with db.sessions() as session:
        ids, matrix = load_vectors(session, MINILM_NAME)
        papers = {p.id: p for p in session.scalars(select(PaperRow))}
    assert ids == sorted(papers)
    expected = minilm.embed([paper_text(papers[i].title, papers[i].abstract) for i in ids])
    # bf16 (where the CPU has it) rounds products differently in batches of 8 and of 32: 5e-4 at
    # most, cosine 0.99999 (tests/search/test_embed.py); fp32 to 1e-6.
    atol = 1e-5 if getattr(minilm, "precision", "f32") == "f32" else 2e-3
    np.testing.assert_allclose(matrix, expected, atol=atol)
    assert np.sum(matrix * expected, axis=1).min() > 0.9999


def test_status_counts_each_model(home_with_models: Path, arxiv_sample) -> None:
    _home_db(home_with_models, arxiv_sample, 20)

    static = _cli("embed", "--model", "static", "--limit", "15")
    status = _cli("embed", "--status")

    assert static.returncode == 0, static.stderr
    assert f"embedded 15 papers with {STATIC_NAME}" in static.stdout
    assert status.returncode == 0
    assert status.stdout.splitlines() == [
        f"{MINILM_NAME}: 0/20 papers embedded (0.0%)  (configured)",
        f"{STATIC_NAME}: 15/20 papers embedded (75.0%)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "--device must be one of cpu, cuda, not 'tpu'"),
        (["--model", "bert"], "--model must be one of minilm, static, mpnet, not 'bert'"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = _cli("embed", *args)

    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())


def test_cuda_without_a_gpu_is_one_clear_line_and_status_1() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")

    result = _cli("embed", "--device", "cuda")

    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: --device cuda: torch sees no CUDA GPU")


def test_the_site_serves_at_once_and_embeds_in_the_background(
    home_with_models: Path, arxiv_sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _home_db(home_with_models, arxiv_sample, 24)
    monkeypatch.setenv("PAPERFEED_EMBED_IN_BACKGROUND", "true")
    settings = Settings(database_url=db.url, embed_batch_size=8, embed_poll_s=0.2)

    minilm_meta = vectors_path(settings, MINILM_NAME) / "meta.json"

    def minilm_indexed() -> int:
        return json.loads(minilm_meta.read_text())["count"] if minilm_meta.is_file() else 0

    def reported() -> dict:
        return client.get("/api/status").json()["background_embedder"]

    with TestClient(create_app(settings, db)) as client:
        first = client.get("/api/status").json()
        deadline = time.monotonic() + 120
        while minilm_indexed() < 24 or reported().get("embedded_since_start") != 24:
            assert time.monotonic() < deadline, "the background embedder did not finish"
            time.sleep(0.1)
        status = client.get("/api/status").json()
        assert client.get("/papers").status_code == 200
        child = client.app.state.background_embedder.pid
        web_niceness = {_niceness(stat) for stat in Path("/proc/self/task").glob("*/stat")}
        embedder_niceness = {_niceness(stat) for stat in Path(f"/proc/{child}/task").glob("*/stat")}

    assert first["papers"] == 24 and first["embedding_model"] == MINILM_NAME
    assert first["background_embedder"]["enabled"] is True
    assert first["search_tiers"] == [STATIC_NAME, MINILM_NAME]
    # The embedder is a process of its own (no interpreter lock shared with the requests),
    # whose threads all yield to the ones serving requests.
    assert status["background_embedder"]["pid"] == child != os.getpid()
    (web,) = web_niceness
    assert embedder_niceness == {min(19, web + 10)}
    # Every paper got a fast-tier vector too; once MiniLM covers all, search answers from it.
    assert status["embedded"] == 24
    assert status["embeddings"] == {MINILM_NAME: 24, STATIC_NAME: 24}
    assert status["search_model"] == MINILM_NAME
    static_meta = json.loads((vectors_path(settings, STATIC_NAME) / "meta.json").read_text())
    assert static_meta["count"] == 24
    assert status["background_embedder"]["running"] is True
    assert status["background_embedder"]["embedded_since_start"] == 24
    assert status["background_embedder"]["last_error"] is None
    # The new vectors joined the search index, so dense search sees them.
    with db.sessions() as session:
        marker = embedding_marker(session, MINILM_NAME)
    meta = json.loads((vectors_path(settings, MINILM_NAME) / "meta.json").read_text())
    assert meta["marker"] == marker and meta["count"] == 24


def test_status_says_when_nothing_embeds_in_the_background(sqlite_db: Database) -> None:
    with TestClient(create_app(Settings(database_url=sqlite_db.url), sqlite_db)) as client:
        status = client.get("/api/status").json()

    assert status == {
        "papers": 0,
        "embedding_model": MINILM_NAME,
        "embedded": 0,
        "embeddings": {},
        "search_model": None,  # no vectors: search works by words alone
        "search_tiers": [STATIC_NAME, MINILM_NAME],
        "background_embedder": None,
    }


@contextlib.contextmanager
def _lock_held_elsewhere(home: Path) -> Iterator[None]:
    """`embedder.lock` held by this test, as another worker (or a killed embedder's successor)
    would hold it, so the app's own embedding process finds it taken."""
    import fcntl

    with (home / "embedder.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def test_only_one_process_embeds_in_the_background(
    home_with_models: Path, arxiv_sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _home_db(home_with_models, arxiv_sample, 4)
    monkeypatch.setenv("PAPERFEED_EMBED_IN_BACKGROUND", "true")
    settings = Settings(database_url=db.url, embed_poll_s=0.2)
    with _lock_held_elsewhere(home_with_models), TestClient(create_app(settings, db)) as client:
        time.sleep(1.0)
        status = client.get("/api/status").json()

    assert status["background_embedder"]["running"] is False
    assert status["embedded"] == 0
    assert os.path.exists(home_with_models / "embedder.lock")


def test_a_status_left_by_a_killed_embedder_does_not_say_running(
    home_with_models: Path, arxiv_sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _home_db(home_with_models, arxiv_sample, 4)
    monkeypatch.setenv("PAPERFEED_EMBED_IN_BACKGROUND", "true")
    settings = Settings(database_url=db.url, embed_poll_s=0.2)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs, as a SIGKILLed embedder's
    status_file = home_with_models / "embedder.status.json"
    reports = []
    with _lock_held_elsewhere(home_with_models), TestClient(create_app(settings, db)) as client:
        time.sleep(0.5)
        for pid in (gone.pid, os.getpid()):
            left = {"running": True, "pid": pid, "model": MINILM_NAME, "last_error": None}
            status_file.write_text(json.dumps(left))
            reports.append(client.get("/api/status").json()["background_embedder"])

    assert reports[0]["running"] is False and reports[0]["pid"] == gone.pid
    assert reports[1]["running"] is True  # a live process: still running


def test_every_web_worker_reports_the_worker_that_embeds(
    home_with_models: Path, arxiv_sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _home_db(home_with_models, arxiv_sample, 8)
    monkeypatch.setenv("PAPERFEED_EMBED_IN_BACKGROUND", "true")
    settings = Settings(database_url=db.url, embed_batch_size=4, embed_poll_s=0.2)

    # Two apps on one data folder, as two `serve --workers` processes: the first takes the lock.
    with TestClient(create_app(settings, db)) as embedding_worker:
        deadline = time.monotonic() + 120
        while (embedding_worker.get("/api/status").json()["background_embedder"]
               .get("embedded_since_start")) != 8:  # fmt: skip
            assert time.monotonic() < deadline, "the background embedder did not finish"
            time.sleep(0.1)
        embedding_pid = embedding_worker.app.state.background_embedder.pid
        with TestClient(create_app(settings, db)) as other_worker:
            time.sleep(0.5)  # its own embedding process finds the lock taken and stops
            reported = other_worker.get("/api/status").json()["background_embedder"]

    assert reported["running"] is True and reported["pid"] == embedding_pid != os.getpid()
    assert reported["model"] == MINILM_NAME and reported["embedded_since_start"] == 8
    assert reported["updated_at"]
