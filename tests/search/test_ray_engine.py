"""`paperfeed embed --engine ray` on a local two-node Ray cluster, real MiniLM, real PostgreSQL.

One run is killed (SIGKILL of the driver) half-way and started again: every paper ends with
exactly one vector, the vectors committed before the kill are kept as they were, the vectors
equal the in-process embedder's, and search finds them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import POSTGRES_URL, _fresh_postgres_database
from sqlalchemy import func, select

from paperfeed.search.embedding import MINILM_NAME, Embedder, paper_text
from paperfeed.search.vectors.store import load_vectors
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import PaperEmbeddingRow, PaperRow

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

PAPERS = 200
BLOCK = 20  # papers per committed block


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and a worker node on this machine, two logical CPUs each."""
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[2] / "src"))
    local = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    local.add_node(num_cpus=2)
    local.wait_for_nodes()
    yield local
    local.shutdown()


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("needs PAPERFEED_TEST_POSTGRES_URL (see .ci/run)")
    yield from _fresh_postgres_database()


def _count(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(PaperEmbeddingRow)) or 0)


def _embed(url: str, address: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PAPERFEED_DATABASE_URL": url}
    command = [sys.executable, "-m", "paperfeed.cli", "embed", "--engine", "ray",
               "--address", address, "--commit-size", str(BLOCK)]  # fmt: skip
    return subprocess.Popen(command, env=env, text=True, **popen)


def test_a_killed_ray_run_resumes_to_one_vector_per_paper_equal_to_in_process_and_searchable(
    cluster: Cluster, pg_url: str, arxiv_sample, home_with_models: Path, minilm: Embedder
) -> None:
    from paperfeed.ingest import arxiv_jsonl
    from paperfeed.search.service import SearchIndexes, search

    db = Database(pg_url)
    assert arxiv_jsonl.import_file(db, arxiv_sample(PAPERS)).ok

    first = _embed(pg_url, cluster.address, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 150
    while _count(db) < PAPERS // 4 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, first.stderr.read() if first.stderr else ""
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Ray ends a dead driver's workers; a block in flight commits whole or not at all.
    settled, last = 0, -1
    while settled < 3:
        time.sleep(1)
        now = _count(db)
        settled, last = (settled + 1, now) if now == last else (0, now)
    assert 0 < last < PAPERS
    with db.sessions() as session:
        before = dict(session.execute(select(PaperEmbeddingRow.paper_id,
                                             PaperEmbeddingRow.created_at)).all())  # fmt: skip

    second = _embed(pg_url, cluster.address, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = second.communicate(timeout=240)
    assert second.returncode == 0, err[-3000:]
    assert re.search(rf"embedded {PAPERS - last} papers", out), out

    with db.sessions() as session:
        rows = session.execute(
            select(PaperEmbeddingRow.paper_id, PaperEmbeddingRow.created_at)
        ).all()
        papers = session.execute(select(PaperRow.id, PaperRow.title, PaperRow.abstract)).all()
        ids, stored = load_vectors(session, MINILM_NAME)
    assert len(rows) == PAPERS and len({paper_id for paper_id, _ in rows}) == PAPERS
    assert all(dict(rows)[paper_id] == stamp for paper_id, stamp in before.items())  # not redone

    texts = {paper_id: paper_text(title, abstract) for paper_id, title, abstract in papers}
    reference = minilm.embed([texts[paper_id] for paper_id in ids])
    cosines = np.sum(reference * stored, axis=1)
    assert cosines.min() >= 0.999, cosines.min()

    settings = Settings(home=home_with_models, database_url=pg_url)
    paper_id, _title, abstract = papers[7]
    with db.sessions() as session:
        hits = search(session, SearchIndexes(settings), abstract.split(".")[0], limit=5).hits
    mine = [hit for hit in hits if hit.paper.arxiv_id == paper_id]
    assert mine and mine[0].why.semantic is not None and mine[0].why.semantic > 0.5, hits
    db.close()
