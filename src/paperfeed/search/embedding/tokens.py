"""Tokenizing for all-MiniLM-L6-v2: the shipped tokenizer, length-sorted batches, padding."""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.core.progress import ProgressSink
from paperfeed.search.embedding import MAX_TOKENS


def load_tokenizer(model_dir: Path) -> Any:
    """The model's tokenizer, truncating at the model's window, padding left to the batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()  # batches are padded to their own longest text
    return tokenizer


def encode_batch(tokenizer: Any, texts: list[str]) -> list[Any]:
    """Token ids of many texts on all cores; without character offsets where the library can
    (about a third faster, and offsets are never used here).

    Plain ASCII texts take a faster road with the same ids (`_plain_twin`): most abstracts are
    plain ASCII, and BERT's normalizer is a third of the tokenizer's time.
    """
    twin = _plain_twin(tokenizer)
    if twin is None:
        return list(_encode(tokenizer, texts))
    plain: list[int] = []
    lowered: list[str] = []
    other: list[int] = []
    for index, text in enumerate(texts):
        low = text.lower() if text.isascii() else ""
        if low and not _CONTROL.search(low) and not any(s in low for s in twin.specials):
            plain.append(index)
            lowered.append(low)
        else:
            other.append(index)
    if not other:
        return list(_encode(twin.tokenizer, lowered))
    out: list[Any] = [None] * len(texts)
    for index, encoding in zip(plain, _encode(twin.tokenizer, lowered), strict=True):
        out[index] = encoding
    for index, encoding in zip(other, _encode(tokenizer, [texts[i] for i in other]), strict=True):
        out[index] = encoding
    return out


def _encode(tokenizer: Any, texts: list[str]) -> Any:
    fast = getattr(tokenizer, "encode_batch_fast", None)
    return fast(texts) if fast is not None else tokenizer.encode_batch(texts)


# ASCII control characters other than tab, newline and carriage return: BERT's normalizer
# drops them (the pre-tokenizer would split on some), so texts with them take the full road.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LOWERCASING_BERT = {
    "type": "BertNormalizer",
    "clean_text": True,
    "handle_chinese_chars": True,
    "strip_accents": None,
    "lowercase": True,
}


class _Twin:
    """A copy of a BERT-lowercasing tokenizer without its normalizer, for lowered ASCII text."""

    def __init__(self, tokenizer: Any, config: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.settings = _settings(tokenizer)
        self.tokenizer = Tokenizer.from_str(json.dumps(dict(config, normalizer=None)))
        # Special tokens are found in the raw text before normalizing: a text holding one, in
        # any case, keeps the full road.
        self.specials = tuple(
            token.content.lower() for token in tokenizer.get_added_tokens_decoder().values()
        )


# A few recent tokenizers' twins (or None: no shortcut), each beside its tokenizer, which
# stays alive while its entry does, so its id() names it.
_twins: OrderedDict[int, tuple[Any, _Twin | None]] = OrderedDict()
_twins_lock = threading.Lock()


def _settings(tokenizer: Any) -> str:
    return json.dumps([tokenizer.truncation, tokenizer.padding], sort_keys=True, default=str)


def _plain_twin(tokenizer: Any) -> _Twin | None:
    """The twin of `tokenizer`, or None where the shortcut would not give the same ids.

    For ASCII text without control characters, BERT's normalizer (clean text, Chinese
    characters spaced, no accent stripping, lowercase) only lowercases; lowercasing in Python
    and tokenizing without the normalizer gives the same ids (tested on every shared paper).
    Not for tokenizers that pad (a call's texts would be padded in two groups).
    """
    with _twins_lock:
        key = id(tokenizer)
        source, twin = _twins.get(key, (None, None))
        if source is not tokenizer or (twin is not None and twin.settings != _settings(tokenizer)):
            twin = None
            if tokenizer.padding is None and hasattr(tokenizer, "to_str"):
                config = json.loads(tokenizer.to_str())
                if config.get("normalizer") == _LOWERCASING_BERT:
                    twin = _Twin(tokenizer, config)
            _twins[key] = (tokenizer, twin)
            while len(_twins) > 4:
                _twins.popitem(last=False)
        _twins.move_to_end(key)
        return twin


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


def padded_ids(tokenizer: Any, texts: list[str], pad_id: int = 0) -> np.ndarray:
    """A (texts, tokens) int64 array of token ids, padded with `pad_id` to the longest text
    rounded up to a multiple of 8 tokens (as the tokenizer's own padding would)."""
    encodings = encode_batch(tokenizer, texts)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
    width = -(-int(lengths.max(initial=1)) // 8) * 8
    ids = np.full((len(texts), width), pad_id, dtype=np.int64)
    flat = itertools.chain.from_iterable(e.ids for e in encodings)
    ids[np.arange(width) < lengths[:, None]] = np.fromiter(flat, np.int64, int(lengths.sum()))
    return ids


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
_worker_pad_id = 0


def init_tokenizer_worker(model_dir: str, pad_id: int = 0) -> None:
    """Set up a tokenizer process (a pool's initializer)."""
    global _worker_tokenizer, _worker_pad_id
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core is the parallelism
    _worker_tokenizer = load_tokenizer(Path(model_dir))
    _worker_pad_id = pad_id


def tokenize_in_worker(texts: list[str]) -> np.ndarray:
    """Padded token ids of `texts`, in a tokenizer process."""
    return padded_ids(_worker_tokenizer, texts, _worker_pad_id)




def embed_batched(
    tokenizer: Any,
    texts: Sequence[str],
    run: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    dim: int,
    batch_size: int,
    pad_id: int = 0,
    progress: ProgressSink | None = None,
) -> np.ndarray:
    """`texts` through a graph (`run`: token ids and attention mask to pooled vectors), in
    batches of similar length, normalized: the loop every CPU engine of the models shares."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    encodings = encode_batch(tokenizer, list(texts))
    for batch in length_sorted_batches([len(e.ids) for e in encodings], batch_size):
        out[batch] = run(*pad(encodings, batch, pad_id))
        if progress is not None:
            progress.advance(len(batch))
    return normalized(out)


def bert_inputs(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """A BERT graph's inputs for a padded batch (one segment)."""
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
