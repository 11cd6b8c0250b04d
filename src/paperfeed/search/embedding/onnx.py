"""all-MiniLM-L6-v2 on CPU through ONNX Runtime, from a graph exported once from the weights."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from paperfeed.core.progress import ProgressSink
from paperfeed.search.embedding import MINILM_NAME
from paperfeed.search.embedding.build import (
    atomic_build,
    bert,
    onnx_model_path,
    query_model_path,
    quiet_quantizer,
    quiet_transformers,
    shipped_model_dir,
)
from paperfeed.search.embedding.tokens import bert_inputs, embed_batched, load_tokenizer

log = logging.getLogger(__name__)


class OnnxMiniLM:
    """all-MiniLM-L6-v2 on CPU through ONNX Runtime (pooling and normalization in the graph)."""

    name = MINILM_NAME
    dim = 384
    pad_id = 0  # [PAD]

    def __init__(self, onnx_path: Path, model_dir: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = load_tokenizer(model_dir)

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressSink | None = None
    ) -> np.ndarray:
        return embed_batched(
            self._tokenizer, texts,
            lambda ids, mask: self._session.run(None, self._inputs(ids, mask))[0],
            dim=self.dim, batch_size=batch_size, pad_id=self.pad_id, progress=progress,
        )  # fmt: skip

    @staticmethod
    def _inputs(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        return bert_inputs(ids, mask)


def ensure_onnx_model(directory: Path) -> Path:
    """The ONNX graph of all-MiniLM-L6-v2 (mean pooling + normalize), exported on first use."""
    target = onnx_model_path(directory)
    if not target.exists():
        started = time.perf_counter()
        atomic_build(target, _export_onnx)
        log.info("exported %s in %.1f s", target, time.perf_counter() - started)
    return target


def ensure_query_model(directory: Path) -> Path:
    """The graph that embeds search queries: the exported graph with its matrix weights in 8
    bits (blocks of 32, symmetric), made on first use; the exported one where that fails.

    A query is a few tokens, so embedding one mostly reads the weights: 42 MB in fp32, more
    than this machine's 32 MB cache, against 11 MB in 8 bits. Measured on 320 queries (random
    title words, the nl-queries, whole titles) on one core: 0.67 ms a short query against 1.78
    ms, at cosine 0.9994 or more to the fp32 vector (mean 0.9996). Papers are still embedded by
    the fp32 graph, so stored vectors never change."""
    exported = ensure_onnx_model(directory)
    target = query_model_path(directory)
    if not target.exists():
        started = time.perf_counter()
        try:
            atomic_build(target, lambda path: _quantize_weights(exported, path))
        except (ImportError, OSError, ValueError, RuntimeError) as error:
            log.warning("queries use the fp32 graph: 8-bit weights failed (%s)", error)
            return exported
        log.info("built %s in %.1f s", target, time.perf_counter() - started)
    return target


def _quantize_weights(source: Path, path: Path) -> None:
    import onnx

    with quiet_quantizer():
        from onnxruntime.quantization.matmul_nbits_quantizer import (
            DefaultWeightOnlyQuantConfig,
            MatMulNBitsQuantizer,
        )

        # accuracy_level 4: int8 products (with the default's fp32 ones, 10x slower here)
        config = DefaultWeightOnlyQuantConfig(
            block_size=32, is_symmetric=True, bits=8, accuracy_level=4
        )
        quantizer = MatMulNBitsQuantizer(
            onnx.load(str(source)), bits=8, block_size=32, is_symmetric=True, accuracy_level=4,
            algo_config=config,
        )  # fmt: skip
        quantizer.process()
    quantizer.model.save_model_to_file(str(path), use_external_data_format=False)


def _export_onnx(path: Path) -> None:
    import torch

    # fp32 whatever the file holds: ONNX Runtime's CPU kernels are fastest and exact in fp32.
    model = bert(shipped_model_dir(), dtype=torch.float32, attn_implementation="eager").eval()

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
    with quiet_transformers():
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


