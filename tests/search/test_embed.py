"""The embedders on real abstracts: normalized, deterministic, batch-independent, and right."""

from __future__ import annotations

import gzip
import itertools
import json
import os

import numpy as np
import pytest
from conftest import ARXIV_JSONL

from paperfeed.search.embedding import (
    MINILM_NAME,
    STATIC_NAME,
    Embedder,
    EmbedderUnavailable,
    load_embedder,
    paper_text,
    text_hash,
)
from paperfeed.search.embedding.build import shipped_model_dir
from paperfeed.search.embedding.gpu import TorchMiniLM
from paperfeed.settings import Settings


@pytest.fixture(scope="module")
def abstracts() -> list[str]:
    """The embedded text of the first 48 real papers of the snapshot."""
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 48)]
    return [paper_text(r["title"], r["abstract"]) for r in records]


def _unit_norm(vectors: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5))


def test_minilm_gives_normalized_float32_vectors_of_its_dimension(
    minilm: Embedder, abstracts: list[str]
) -> None:
    vectors = minilm.embed(abstracts[:16], batch_size=8)

    assert minilm.name == MINILM_NAME and minilm.dim == 384
    assert vectors.shape == (16, 384) and vectors.dtype == np.float32
    assert _unit_norm(vectors)
    assert minilm.embed([]).shape == (0, 384)


def test_minilm_is_deterministic_and_independent_of_batching(
    minilm: Embedder, abstracts: list[str]
) -> None:
    texts = abstracts[:12]
    together = minilm.embed(texts, batch_size=12)  # padded to the longest of the batch
    again = minilm.embed(texts, batch_size=5)
    alone = np.stack([minilm.embed([text])[0] for text in texts[:3]])
    twice = minilm.embed([texts[0], texts[0]])

    # In bf16 (where the CPU has it) a batch's shape moves the last bits of the products'
    # rounding: the vectors of one text in two batchings differ by 5e-4 at most (2,000 real
    # abstracts), cosine 0.99999; in fp32 by 1e-6.
    atol = 1e-5 if getattr(minilm, "precision", "f32") == "f32" else 2e-3
    np.testing.assert_allclose(together, again, atol=atol)
    np.testing.assert_allclose(together[:3], alone, atol=atol)
    assert np.sum(together * again, axis=1).min() > 0.9999
    assert np.array_equal(minilm.embed(texts, batch_size=5), again)  # the same call, the same bits
    assert np.array_equal(twice[0], twice[1])  # identical text, identical vector


def test_minilm_matches_torch_on_the_shipped_weights(
    minilm: Embedder, abstracts: list[str]
) -> None:
    """The exported ONNX graph computes what the shipped model computes (pooling included)."""
    texts = abstracts[:8]
    reference = TorchMiniLM(shipped_model_dir(), device="cpu").embed(texts)

    cosines = np.sum(minilm.embed(texts) * reference, axis=1)

    assert cosines.min() > 0.9999


def test_papers_through_openvino_give_onnx_runtime_s_fp32_vectors(
    minilm: Embedder, model_settings: Settings, abstracts: list[str]
) -> None:
    """Papers run through OpenVINO, on the graph ONNX Runtime ran before: in fp32 the same
    vectors, in bf16 (where the CPU has it) within cosine 0.9999, so stored vectors stay."""
    from paperfeed.search.embedding import models_dir
    from paperfeed.search.embedding.onnx import OnnxMiniLM, ensure_onnx_model
    from paperfeed.search.embedding.openvino_cpu import OpenVinoMiniLM

    graph = ensure_onnx_model(models_dir(model_settings))
    texts = abstracts[:16]
    reference = OnnxMiniLM(graph, shipped_model_dir(), threads=1).embed(texts, batch_size=4)
    fp32 = OpenVinoMiniLM(graph, shipped_model_dir(), threads=1, precision="f32")

    assert isinstance(minilm, OpenVinoMiniLM) and minilm.precision in ("f32", "bf16")
    assert fp32.precision == "f32"
    assert np.sum(fp32.embed(texts, batch_size=4) * reference, axis=1).min() > 0.99999
    assert np.sum(minilm.embed(texts, batch_size=4) * reference, axis=1).min() > 0.9999
    with pytest.raises(ValueError, match="unknown precision"):
        OpenVinoMiniLM(graph, shipped_model_dir(), precision="fp8")


def test_minilm_places_a_title_nearest_its_own_abstract(
    minilm: Embedder, abstracts: list[str]
) -> None:
    titles = [text.split("\n\n")[0] for text in abstracts]
    bodies = [text.split("\n\n", 1)[1] for text in abstracts]

    similarity = minilm.embed(titles) @ minilm.embed(bodies).T
    hits = np.mean(np.argmax(similarity, axis=1) == np.arange(len(titles)))

    assert hits >= 0.9  # 48 distinct papers: a broken model scores near 1/48


def test_static_model_is_distilled_offline_and_normalized(
    static_embedder: Embedder, abstracts: list[str]
) -> None:
    vectors = static_embedder.embed(abstracts, batch_size=16)
    titles = static_embedder.embed([text.split("\n\n")[0] for text in abstracts])

    assert static_embedder.name == STATIC_NAME and static_embedder.dim == 256
    assert vectors.shape == (48, 256) and _unit_norm(vectors)
    assert np.mean(np.argmax(titles @ vectors.T, axis=1) == np.arange(48)) >= 0.75


def test_paper_text_ignores_layout_but_not_words() -> None:
    wrapped = paper_text(" A  title ", "First line\n  of the\tabstract. ")

    assert wrapped == "A title\n\nFirst line of the abstract."
    assert text_hash(wrapped) == text_hash(paper_text("A title", "First line of the abstract."))
    assert text_hash(wrapped) != text_hash(paper_text("A title", "First line of an abstract."))
    assert paper_text("Only a title", "") == "Only a title"


def test_unknown_kind_device_and_missing_gpu_are_clear_errors(model_settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown embedding model 'bert'"):
        load_embedder(model_settings, "bert")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        load_embedder(model_settings, "minilm", "tpu")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(EmbedderUnavailable, match="no CUDA GPU"):
        load_embedder(model_settings, "minilm", "cuda")


def test_cpu_batches_of_the_backfill_give_the_vectors_of_each_text_alone(
    minilm: Embedder, abstracts: list[str]
) -> None:
    """The CPU path's batches (a commit chunk sorted by length, cut into small batches) give the
    vectors of the unchanged fp32 path: each text embedded alone, without padding."""
    from paperfeed.search.embedding import default_batch_size, default_commit_size

    batch = default_batch_size("cpu")
    chunk = abstracts[: default_commit_size("cpu", batch)]
    reference = np.concatenate([minilm.embed([text], batch_size=1) for text in chunk])

    cosines = np.sum(minilm.embed(chunk, batch_size=batch) * reference, axis=1)

    assert cosines.min() >= 0.999
    assert default_commit_size("cpu", batch) >= 8 * batch  # room to sort by length


def test_the_first_tier_s_model_is_built_beside_the_import_once(
    tmp_path, abstracts: list[str], static_embedder: Embedder
) -> None:
    """`quickstart` distils the static tier in a child process while it imports; what it builds
    is what the embedder loads, and nothing is built twice. MiniLM's graph is left to the
    embedder, after the static pass."""
    from paperfeed.search.embedding import models_dir
    from paperfeed.search.embedding.build import onnx_model_path, start_building
    from paperfeed.search.embedding.static import static_model_path

    settings = Settings(home=tmp_path / "fresh", database_url="sqlite://", embed_in_background=True)
    building = start_building(settings)
    assert building is not None and building.pid != os.getpid()
    building.join(600)

    assert building.exitcode == 0
    assert static_model_path(models_dir(settings)).is_dir()
    assert not onnx_model_path(models_dir(settings)).exists()
    built = load_embedder(settings, "static").embed(abstracts[:8])
    # the same model as the one distilled in the embedder's process (to float rounding)
    assert np.sum(built * static_embedder.embed(abstracts[:8]), axis=1).min() > 0.9999
    assert start_building(settings) is None  # built: no process
    elsewhere = settings.model_copy(update={"home": tmp_path / "other"})
    assert start_building(elsewhere.model_copy(update={"search_dense": False})) is None
    assert start_building(elsewhere.model_copy(update={"embed_in_background": False})) is None


def test_queries_are_embedded_by_the_8_bit_graph_close_to_the_fp32_one(
    model_settings: Settings, minilm: Embedder, abstracts: list[str]
) -> None:
    """The search box's embedder runs the graph with 8-bit weights (a few tokens mostly read
    the weights: a quarter of the bytes), and its vectors stay next to the papers' fp32 ones."""
    from paperfeed.search.embedding import models_dir, query_embedder
    from paperfeed.search.embedding.build import onnx_model_path, query_model_path

    queries = [text.split("\n\n")[0] for text in abstracts[:24]]  # titles as queries
    queries += ["speculative decoding", "how do I make a trained model smaller?", "LoRA"]
    for_queries = load_embedder(model_settings, "minilm", "cpu", for_queries=True)
    graph = query_model_path(models_dir(model_settings))

    cosines = np.sum(for_queries.embed(queries) * minilm.embed(queries), axis=1)
    # each title still finds its own paper among the 48 (the fp32 papers' vectors)
    own = np.argmax(for_queries.embed(queries[:24]) @ minilm.embed(abstracts).T, axis=1)

    assert graph.is_file() and graph.stat().st_size < onnx_model_path(graph.parent).stat().st_size
    assert cosines.min() > 0.999
    assert np.mean(own == np.arange(24)) >= 0.9
    assert query_embedder(model_settings) is not None  # the site's query embedder loads it
