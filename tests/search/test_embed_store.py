"""Stored vectors on both databases: saved with their model, never recomputed for unchanged
text, recomputed when the text or the model changes, read back in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select, update

from paperfeed.search.backfill import embed_pending
from paperfeed.search.embedding import Embedder, paper_text, text_hash
from paperfeed.search.vectors.store import (
    embedding_counts,
    embedding_marker,
    embedding_status,
    iter_vectors,
    load_vectors,
    papers_needing_embedding,
    vectors_for,
)
from paperfeed.store.models import PaperEmbeddingRow, PaperRow


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed (to prove none is redone)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts, batch_size, progress)


def _stored(db, model: str) -> dict[str, tuple[str, datetime]]:
    with db.sessions() as session:
        rows = session.execute(
            select(PaperEmbeddingRow.paper_id, PaperEmbeddingRow.text_hash,
                   PaperEmbeddingRow.created_at).where(PaperEmbeddingRow.model == model)
        ).all()  # fmt: skip
    return {paper_id: (digest, created) for paper_id, digest, created in rows}


def test_backfill_stores_every_paper_once_with_its_model(papers_db, minilm: Embedder) -> None:
    db = papers_db(24)
    counting = CountingEmbedder(minilm)

    first = embed_pending(db, counting, batch_size=8, commit_size=10)

    assert first.embedded == 24 and len(counting.texts) == 24
    with db.sessions() as session:
        assert embedding_status(session, minilm.name) == (24, 24)
        ids, matrix = load_vectors(session, minilm.name)
        papers = {p.id: p for p in session.scalars(select(PaperRow))}
    assert ids == sorted(papers) and matrix.shape == (24, 384) and matrix.dtype == np.float32
    expected = minilm.embed([paper_text(papers[i].title, papers[i].abstract) for i in ids[:4]])
    np.testing.assert_allclose(matrix[:4], expected, atol=1e-5)
    assert {digest for digest, _ in _stored(db, minilm.name).values()} == {
        text_hash(paper_text(p.title, p.abstract)) for p in papers.values()
    }

    before = _stored(db, minilm.name)
    again = embed_pending(db, counting, batch_size=8)

    assert again.embedded == 0 and len(counting.texts) == 24  # unchanged text: nothing redone
    assert _stored(db, minilm.name) == before  # not even rewritten


def test_a_changed_abstract_is_embedded_again_and_only_it(papers_db, minilm: Embedder) -> None:
    db = papers_db(16)
    embed_pending(db, minilm, batch_size=8)
    before = _stored(db, minilm.name)
    with db.transaction() as session:
        changed = session.scalars(select(PaperRow).order_by(PaperRow.id).offset(5)).first()
        changed.abstract = changed.abstract + " We also release the code."
        changed_id = changed.id
        new_text = paper_text(changed.title, changed.abstract)
        # Whitespace alone is not a change of text.
        other = session.scalars(select(PaperRow).order_by(PaperRow.id)).first()
        other.abstract = "  " + other.abstract.replace(" ", "\n", 3)

    with db.sessions() as session:
        pending = papers_needing_embedding(session, minilm.name, 100)
    counting = CountingEmbedder(minilm)
    result = embed_pending(db, counting, batch_size=8)

    assert [p.paper_id for p in pending] == [changed_id] and pending[0].text == new_text
    assert result.embedded == 1 and counting.texts == [new_text]
    after = _stored(db, minilm.name)
    assert after[changed_id][0] == text_hash(new_text) != before[changed_id][0]
    assert {k: v for k, v in after.items() if k != changed_id} == {
        k: v for k, v in before.items() if k != changed_id
    }
    with db.sessions() as session:
        _, vector = vectors_for(session, minilm.name, [changed_id])
    np.testing.assert_allclose(vector[0], minilm.embed([new_text])[0], atol=1e-5)


def test_another_model_embeds_everything_beside_the_first(
    papers_db, minilm: Embedder, static_embedder: Embedder
) -> None:
    db = papers_db(12)
    embed_pending(db, minilm, batch_size=8)
    with db.sessions() as session:
        marker = embedding_marker(session, minilm.name)

    result = embed_pending(db, static_embedder, batch_size=8)

    assert result.embedded == 12
    with db.sessions() as session:
        assert embedding_counts(session) == {minilm.name: 12, static_embedder.name: 12}
        assert load_vectors(session, static_embedder.name)[1].shape == (12, 256)
        assert embedding_marker(session, minilm.name) == marker  # the other model untouched
        assert papers_needing_embedding(session, minilm.name, 100) == []


def test_vectors_stream_in_chunks_and_follow_deleted_papers(
    papers_db, static_embedder: Embedder
) -> None:
    db = papers_db(20)
    started = datetime.now(UTC).replace(tzinfo=None)
    embed_pending(db, static_embedder, batch_size=8, commit_size=8)
    with db.sessions() as session:
        ids, matrix = load_vectors(session, static_embedder.name)
        chunks = list(iter_vectors(session, static_embedder.name, chunk=7))
        recent = list(iter_vectors(session, static_embedder.name, since=started))
        marker = embedding_marker(session, static_embedder.name)
        found, some = vectors_for(session, static_embedder.name, [ids[3], "0000.00000", ids[1]])

    assert [len(chunk_ids) for chunk_ids, _ in chunks] == [7, 7, 6]
    assert [i for chunk_ids, _ in chunks for i in chunk_ids] == ids
    np.testing.assert_array_equal(np.concatenate([m for _, m in chunks]), matrix)
    assert sum(len(chunk_ids) for chunk_ids, _ in recent) == 20
    assert found == [ids[3], ids[1]]
    np.testing.assert_array_equal(some, matrix[[3, 1]])

    with db.transaction() as session:
        session.execute(delete(PaperRow).where(PaperRow.id == ids[0]))
    with db.sessions() as session:
        assert embedding_status(session, static_embedder.name) == (19, 19)
        assert embedding_marker(session, static_embedder.name) != marker
        assert load_vectors(session, static_embedder.name)[0] == ids[1:]


def test_missing_only_skips_stale_vectors_and_limit_caps_the_run(
    papers_db, static_embedder: Embedder
) -> None:
    db = papers_db(10)
    model = static_embedder.name
    first = embed_pending(db, static_embedder, batch_size=4, limit=6)
    assert first.embedded == 6
    renamed = min(_stored(db, model))
    with db.transaction() as session:
        session.execute(update(PaperRow).where(PaperRow.id == renamed).values(title="Renamed"))

    with db.sessions() as session:
        missing = papers_needing_embedding(session, model, 100, missing_only=True)
        every = papers_needing_embedding(session, model, 100)
        first_two = papers_needing_embedding(session, model, 2)
        after = papers_needing_embedding(session, model, 100, after=first_two[-1].paper_id)

    assert len(missing) == 4 and renamed not in {p.paper_id for p in missing}
    assert [p.paper_id for p in every] == sorted([renamed, *(p.paper_id for p in missing)])
    assert first_two + after == every


class RacingEmbedder(CountingEmbedder):
    """While it embeds its first chunk, another embedder (`paperfeed embed` beside the site's
    background one) embeds and commits the same pending papers."""

    def __init__(self, inner: Embedder, db) -> None:
        super().__init__(inner)
        self.db = db
        self.raced = False

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:
        if not self.raced:
            self.raced = True
            embed_pending(self.db, self.inner, batch_size)
        return super().embed(texts, batch_size, progress)


def test_two_embedders_at_once_store_each_vector_once(papers_db, static_embedder: Embedder) -> None:
    db = papers_db(6)
    racing = RacingEmbedder(static_embedder, db)

    result = embed_pending(db, racing, batch_size=4)  # its first 4 were stored meanwhile

    assert racing.raced and result.embedded == 4  # then the other had done the rest
    with db.sessions() as session:
        assert embedding_status(session, static_embedder.name) == (6, 6)
        assert papers_needing_embedding(session, static_embedder.name, 100) == []


def test_stored_vectors_raise_the_site_version_once_their_index_is_in_place(
    papers_db, static_embedder: Embedder, tmp_path
) -> None:
    """A backfill's chunks leave the page caches alone (they raised the version every few
    seconds for hours); the vector index that puts them into search raises it, once."""
    from paperfeed.search.indexer import update_indexes
    from paperfeed.settings import Settings
    from paperfeed.store import site_version

    db = papers_db(24)
    settings = Settings(home=tmp_path / "home", database_url=db.url, embedding_model="static")

    def version() -> int:
        with db.sessions() as session:
            return site_version.read(session).number

    update_indexes(db, settings)  # the lexical index, as after an import
    before = version()
    embedded = embed_pending(db, static_embedder, batch_size=4, commit_size=4)
    after_chunks = version()
    update_indexes(db, settings)
    after_index = version()
    update_indexes(db, settings)  # nothing new: no new index, no new version

    assert embedded.embedded == 24
    assert after_chunks == before  # 6 committed chunks, no raise
    assert after_index == before + 1
    assert version() == after_index
