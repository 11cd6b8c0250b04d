"""Tokenizing for all-MiniLM-L6-v2: the shipped tokenizer, length-sorted batches, padding."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.search.embedding import MAX_TOKENS


def load_tokenizer(model_dir: Path) -> Any:
    """The model's tokenizer, truncating at the model's window, padding left to the batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()  # batches are padded to their own longest text
    return tokenizer


def encode_batch(tokenizer: Any, texts: list[str]) -> Any:
    """Token ids of many texts on all cores; without character offsets where the library can
    (about a third faster, and offsets are never used here)."""
    fast = getattr(tokenizer, "encode_batch_fast", None)
    return fast(texts) if fast is not None else tokenizer.encode_batch(texts)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of texts of similar token length, longest first (padding costs compute)."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad(encodings: Any, batch: np.ndarray, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of the texts in `batch`, padded to the longest with
    `pad_id` (MiniLM's [PAD] is 0)."""
    width = max(len(encodings[i].ids) for i in batch)
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, i in enumerate(batch):
        tokens = encodings[i].ids
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return ids, mask


def normalized(vectors: np.ndarray) -> np.ndarray:
    """The rows scaled to unit length (float32)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def padding_tokenizer(model_dir: Path, pad_id: int = 0) -> Any:
    """The tokenizer, padding each call's texts with `pad_id` to a multiple of 8 tokens."""
    tokenizer = load_tokenizer(model_dir)
    pad_token = tokenizer.id_to_token(pad_id)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token, pad_to_multiple_of=8)
    return tokenizer


def padded_ids(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """A (texts, tokens) int64 array of token ids, padded to a multiple of 8 as the tokenizer
    pads (`padding_tokenizer`)."""
    encodings = encode_batch(tokenizer, texts)
    width = len(encodings[0].ids)
    flat = itertools.chain.from_iterable(e.ids for e in encodings)
    return np.fromiter(flat, dtype=np.int64, count=len(texts) * width).reshape(len(texts), width)


def stack_padded(pieces: list[np.ndarray], pad_id: int = 0) -> np.ndarray:
    """Pieces of one batch, each padded to its own longest text, as one array padded with
    `pad_id`."""
    if len(pieces) == 1:
        return pieces[0]
    shape = (sum(len(p) for p in pieces), max(p.shape[1] for p in pieces))
    ids = np.full(shape, pad_id, np.int64)
    row = 0
    for piece in pieces:
        ids[row : row + len(piece), : piece.shape[1]] = piece
        row += len(piece)
    return ids


_worker_tokenizer: Any = None  # the tokenizer of a tokenizer process


def init_tokenizer_worker(model_dir: str, pad_id: int = 0) -> None:
    """Set up a tokenizer process (a pool's initializer)."""
    global _worker_tokenizer
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core is the parallelism
    _worker_tokenizer = padding_tokenizer(Path(model_dir), pad_id)


def tokenize_in_worker(texts: list[str]) -> np.ndarray:
    """Padded token ids of `texts`, in a tokenizer process."""
    return padded_ids(_worker_tokenizer, texts)


