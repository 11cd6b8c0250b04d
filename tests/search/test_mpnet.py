"""all-mpnet-base-v2, the stronger model of the `mpnet` extra: joined from its five PyPI parts,
exported to ONNX for CPU, the same vectors as torch, and a site that searches with it."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ARXIV_JSONL

from paperfeed.search.embedding import (
    MINILM_NAME,
    MPNET_NAME,
    STATIC_NAME,
    Embedder,
    answering_model,
    kind_of,
    load_embedder,
    model_name,
    paper_text,
    tier_models,
)
from paperfeed.search.embedding.build import mpnet_model_dir
from paperfeed.search.embedding.mpnet import TorchMpnet
from paperfeed.settings import Settings


@pytest.fixture(scope="module")
def mpnet(model_settings: Settings) -> Embedder:
    return load_embedder(model_settings, "mpnet", "cpu", threads=2)


@pytest.fixture(scope="module")
def papers() -> list[tuple[str, str]]:
    """(title, abstract) of the first 24 real papers of the snapshot."""
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 24)]
    return [(r["title"], r["abstract"]) for r in records]


def test_the_model_is_joined_from_its_five_packages_once(model_settings: Settings) -> None:
    models = model_settings.home / "models"
    folder = mpnet_model_dir(models)

    assert json.loads((folder / "config.json").read_text())["hidden_size"] == 768
    assert (folder / "tokenizer.json").is_file()
    assert not list(folder.glob("*.ini"))  # the packager's desktop.ini files stay out
    assert mpnet_model_dir(models) == folder  # joined once, then found


def test_onnx_on_cpu_matches_torch_and_pads_with_its_own_id(
    mpnet: Embedder, papers: list[tuple[str, str]], model_settings: Settings
) -> None:
    texts = [paper_text(t, a) for t, a in papers[:6]] + ["LoRA"]  # one far shorter than the rest
    reference = TorchMpnet(mpnet_model_dir(model_settings.home / "models"), device="cpu")

    together = mpnet.embed(texts, batch_size=7)  # the short text padded to the longest
    alone = mpnet.embed(texts[-1:])
    torch_vectors = reference.embed(texts, batch_size=7)

    assert mpnet.name == MPNET_NAME and mpnet.dim == 768
    assert together.shape == (7, 768)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.sum(together * torch_vectors, axis=1).min() > 0.9999
    assert float(together[-1] @ alone[0]) > 0.9999  # padding changes nothing


def test_mpnet_places_a_title_nearest_its_own_abstract(
    mpnet: Embedder, papers: list[tuple[str, str]]
) -> None:
    titles = mpnet.embed([t for t, _ in papers])
    bodies = mpnet.embed([a for _, a in papers])

    hits = np.mean(np.argmax(titles @ bodies.T, axis=1) == np.arange(len(papers)))

    assert hits >= 0.9  # 24 distinct papers: a broken model scores near 1/24


def test_a_site_on_mpnet_embeds_the_fast_tier_first_and_names_its_vectors(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, embedding_model="mpnet")

    assert model_name(settings) == MPNET_NAME and kind_of(MPNET_NAME) == "mpnet"
    assert kind_of(MINILM_NAME) == "minilm" and kind_of(STATIC_NAME) == "static"
    assert tier_models(settings) == [STATIC_NAME, MPNET_NAME]
    assert tier_models(Settings(home=tmp_path, embedding_model="mpnet", embed_fast_tier=False)) == [
        MPNET_NAME
    ]
    # The static vectors answer until mpnet covers every paper; never a mix of the two.
    assert answering_model([STATIC_NAME, MPNET_NAME], {STATIC_NAME: 10, MPNET_NAME: 9}, 10) == (
        STATIC_NAME
    )
    assert answering_model([STATIC_NAME, MPNET_NAME], {STATIC_NAME: 10, MPNET_NAME: 10}, 10) == (
        MPNET_NAME
    )


def test_a_site_configured_with_mpnet_searches_by_its_meaning(
    home_with_models: Path, arxiv_sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`paperfeed embed` on CPU with the configured mpnet; once it covers every paper, search
    answers from mpnet's vectors (not the static tier's) and finds a paper described in words
    other than its title's."""
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from paperfeed.web.app import create_app

    monkeypatch.setenv("PAPERFEED_EMBEDDING_MODEL", "mpnet")
    monkeypatch.setenv("PAPERFEED_EMBED_IN_BACKGROUND", "false")

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "paperfeed.cli", *args]
        return subprocess.run(command, capture_output=True, text=True)

    imported = cli("ingest", "arxiv-jsonl", str(arxiv_sample(24)))
    embedded = cli("embed", "--model", "static")
    embedded_mpnet = cli("embed")  # the configured model

    assert imported.returncode == 0, imported.stderr
    assert embedded.returncode == 0 and embedded_mpnet.returncode == 0, embedded_mpnet.stderr
    assert f"embedded 24 papers with {MPNET_NAME}" in embedded_mpnet.stdout
    target = _pick_target()
    with TestClient(create_app()) as client:
        status = client.get("/api/status").json()
        hits = client.get("/api/papers/search", params={"q": target["query"]}).json()

    assert status["search_model"] == MPNET_NAME
    assert target["id"] in [hit["paper"]["id"] for hit in hits[:3]]


def _pick_target() -> dict[str, str]:
    """A paper of the sample and a query made of its abstract's first sentence, with every word
    of its title taken out (so only meaning can match them)."""
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 24)]
    for record in records:
        title_words = {w.strip(".,:;()").lower() for w in record["title"].split()}
        sentence = " ".join(record["abstract"].split()).split(". ")[0]
        words = [w for w in sentence.split() if w.strip(".,:;()").lower() not in title_words]
        if len(words) >= 8:
            return {"id": record["id"], "query": " ".join(words[:40])}
    raise AssertionError("no paper of the sample has a first sentence to describe it")
