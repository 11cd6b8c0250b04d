"""Where the search indexes get paper vectors and the query embedder: the embedding store's API."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from paperfeed.settings import Settings

log = logging.getLogger(__name__)


def marker(session: Session, model: str) -> str:
    """A value that changes whenever an embedding of `model` is added or replaced."""
    from paperfeed.search import vectors_store

    return vectors_store.embedding_marker(session, model)


def load(session: Session, model: str) -> tuple[list[str], np.ndarray]:
    """Every stored vector of `model`, with the paper ids they belong to."""
    from paperfeed.search import vectors_store

    return vectors_store.load_vectors(session, model)


def query_embedder(settings: Settings):
    """The embedder for queries (loaded once per process); None when it cannot be loaded here."""
    if not settings.search_dense:
        return None
    return _query_embedder(settings.home.resolve(), settings.embedding_model)


@lru_cache(maxsize=4)
def _query_embedder(home: Path, kind: str):
    from paperfeed.search import embed
    from paperfeed.settings import Settings

    try:
        # One thread: a query is a handful of tokens, and the web server needs the other core.
        return embed.load_embedder(Settings(home=home), kind=kind, device="cpu", threads=1)
    except embed.EmbedderUnavailable as error:
        log.warning("dense search off: %s", error)
        return None
