"""all-MiniLM-L6-v2 through torch: fp16 on a GPU, fed by tokenizer processes on the host."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.core.progress import ProgressSink
from paperfeed.search.embedding import MINILM_NAME, EmbedderUnavailable
from paperfeed.search.embedding.build import bert
from paperfeed.search.embedding.tokens import (
    init_tokenizer_worker,
    load_tokenizer,
    normalized,
    padded_ids,
    stack_padded,
    tokenize_in_worker,
)


class TorchMiniLM:
    """all-MiniLM-L6-v2 through torch: fp16 on a GPU (large length-sorted batches), fp32 on CPU."""

    name = MINILM_NAME
    dim = 384
    pad_id = 0  # [PAD]

    def __init__(
        self, model_dir: Path, device: str = "cuda", *, tokenizer_processes: bool = True
    ) -> None:
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise EmbedderUnavailable(
                "--device cuda: torch sees no CUDA GPU here (this torch is "
                f"{torch.__version__}); use --device cpu"
            )
        self._torch = torch
        self.device = torch.device(device)
        dtype = torch.float16 if device == "cuda" else torch.float32
        model = self._load(model_dir, dtype)
        self._model = model.to(self.device).eval()
        self._model_dir = model_dir
        self._tokenizer = load_tokenizer(model_dir)
        # Tokenizer processes (GPU only), starting while the model loads; off where others
        # tokenize (the Ray engine's CPU workers).
        self._workers: ProcessPoolExecutor | None = None
        self._own_tokenizers = tokenizer_processes
        self._tokenizing_pool()

    @staticmethod
    def _load(model_dir: Path, dtype: object) -> Any:
        return bert(model_dir, dtype=dtype, attn_implementation="sdpa")

    def embed(
        self, texts: Sequence[str], batch_size: int = 512, progress: ProgressSink | None = None
    ) -> np.ndarray:
        try:
            return self._embed(texts, batch_size, progress)
        except self._torch.cuda.OutOfMemoryError:
            raise EmbedderUnavailable(
                f"the GPU ran out of memory with {batch_size} texts a batch; "
                "use a smaller --batch-size"
            ) from None

    def _embed(
        self, texts: Sequence[str], batch_size: int, progress: ProgressSink | None
    ) -> np.ndarray:
        torch = self._torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Batches of similar length, by characters: tokenizing everything first to sort by
        # tokens would leave the GPU idle; instead batches are tokenized ahead of the GPU.
        order = np.argsort(-np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        pool, piece = self._tokenizing_pool()
        with ExitStack() as stack:
            tokenize: Callable[[list[str]], np.ndarray] = tokenize_in_worker
            if pool is None:
                pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="tokenize"))
                tokenize = partial(padded_ids, self._tokenizer, pad_id=self.pad_id)

            def submit(batch: np.ndarray) -> list[Future]:
                # A batch is tokenized in pieces, so every worker helps with the next batch.
                step = piece or len(batch)
                return [
                    pool.submit(tokenize, [texts[i] for i in batch[start : start + step]])
                    for start in range(0, len(batch), step)
                ]

            lookahead = 3
            ahead = deque(submit(batch) for batch in batches[:lookahead])
            pending: list[tuple] = []
            with torch.inference_mode():
                for index, batch in enumerate(batches):
                    ids = stack_padded([f.result() for f in ahead.popleft()], self.pad_id)
                    if index + lookahead < len(batches):
                        ahead.append(submit(batches[index + lookahead]))
                    pending.append((batch, *self._forward(torch.from_numpy(ids))))
                    if len(pending) > 2:
                        self._collect(pending.pop(0), out, progress)
                while pending:
                    self._collect(pending.pop(0), out, progress)
        return normalized(out)

    def _tokenizing_pool(self):
        """(process pool, texts per task) on a GPU machine with cores to spare, else (None, 0).

        One thread cannot tokenize as fast as an H100 embeds, and threads share Python's lock
        with the loop feeding the GPU; separate processes, one per spare core, keep it fed.
        """
        cores = os.cpu_count() or 1
        if self.device.type != "cuda" or cores < 6 or not self._own_tokenizers:
            return None, 0
        if self._workers is None:
            self._workers = ProcessPoolExecutor(
                max_workers=cores - 2,
                mp_context=multiprocessing.get_context("spawn"),  # never fork a CUDA process
                initializer=init_tokenizer_worker,
                initargs=(str(self._model_dir), self.pad_id),
            )
            # Workers start on demand: ask now, so they start while the model loads.
            for _ in range(cores - 2):
                self._workers.submit(tokenize_in_worker, ["warm-up"])
        return self._workers, 128

    def embed_tokens(self, batches: Sequence[np.ndarray]) -> np.ndarray:
        """Vectors of pre-tokenized batches (each a padded int64 (texts, tokens) array), in order;
        the GPU runs two batches ahead of the host copying results back."""
        torch = self._torch
        out = np.zeros((sum(len(b) for b in batches), self.dim), dtype=np.float32)
        starts = np.cumsum([0, *(len(b) for b in batches)])
        pending: list[tuple] = []
        with torch.inference_mode():
            for index, ids in enumerate(batches):
                rows = np.arange(starts[index], starts[index + 1])
                pending.append((rows, *self._forward(torch.from_numpy(ids))))
                if len(pending) > 2:
                    self._collect(pending.pop(0), out, None)
            while pending:
                self._collect(pending.pop(0), out, None)
        return normalized(out)

    def close(self) -> None:
        """Stop the tokenizer processes (they also stop when the program exits)."""
        if self._workers is not None:
            self._workers.shutdown(cancel_futures=True)
            self._workers = None

    def _forward(self, ids):
        """Start one batch on the device; returns its host buffer and a done-event (GPU)."""
        torch = self._torch
        cuda = self.device.type == "cuda"
        if cuda:
            ids = ids.pin_memory()
        ids = ids.to(self.device, non_blocking=cuda)
        mask = ids != self.pad_id
        hidden = self._model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        weights = mask.unsqueeze(-1).float()
        # Sum in fp32: 256 fp16 activations can overflow or lose precision.
        pooled = (hidden.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        # Copy back without waiting, so the GPU runs ahead of the host; the event marks when
        # this batch's copy has landed.
        host = torch.empty(pooled.shape, dtype=torch.float32, pin_memory=cuda)
        host.copy_(pooled, non_blocking=cuda)
        done = torch.cuda.Event() if cuda else None
        if done is not None:
            done.record()
        return host, done

    @staticmethod
    def _collect(item, out: np.ndarray, progress: ProgressSink | None) -> None:
        batch, vectors, done = item
        if done is not None:
            done.synchronize()
        out[batch] = vectors.numpy()
        if progress is not None:
            progress.advance(len(batch))


