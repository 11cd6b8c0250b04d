"""all-MiniLM-L6-v2 on CPU through OpenVINO, from the ONNX graph that onnx.py exports.

Papers are embedded here; queries keep ONNX Runtime's graph with 8-bit weights (onnx.py).
OpenVINO reads the exported ONNX file as it is and fuses each layer's attention (scores,
softmax, weighted sum) into one kernel. On one core of this machine (bench/embed_ceiling.py,
real abstracts in length-sorted batches of 4, CPU time) it embeds about 34 abstracts/s in fp32
against ONNX Runtime's 30 on the same graph, the same vectors (cosine 1.000000), and about 60/s
where the CPU multiplies bf16 natively (avx512_bf16 or AMX), at cosine 0.99997 or more to the
fp32 vectors: the matrix products take bf16 inputs and add up in fp32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.core.progress import ProgressSink
from paperfeed.search.embedding import MINILM_NAME
from paperfeed.search.embedding.tokens import bert_inputs, embed_batched, load_tokenizer

PRECISIONS = ("auto", "f32", "bf16")


def cpu_precision(core: Any) -> str:
    """bf16 where this CPU multiplies bf16 in hardware (OpenVINO lists BF16 among its
    optimization capabilities: avx512_bf16 or AMX), else f32."""
    return "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"


class OpenVinoMiniLM:
    """all-MiniLM-L6-v2 on CPU through OpenVINO (pooling and normalization in the graph)."""

    name = MINILM_NAME
    dim = 384
    pad_id = 0  # [PAD]

    def __init__(
        self,
        onnx_path: Path,
        model_dir: Path,
        threads: int | None = None,
        precision: str = "auto",
    ) -> None:
        import openvino as ov

        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        core = ov.Core()
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,  # one batch at a time, on `threads` cores
            "INFERENCE_PRECISION_HINT": cpu_precision(core) if precision == "auto" else precision,
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads  # with 1, it runs on the calling thread
        self._compiled = core.compile_model(str(onnx_path), "CPU", config)
        # What the plugin took: bf16 asked of a CPU without it runs in f32.
        self.precision = self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self._tokenizer = load_tokenizer(model_dir)

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressSink | None = None
    ) -> np.ndarray:
        request = self._compiled.create_infer_request()  # one per call: calls may overlap
        return embed_batched(
            self._tokenizer, texts, lambda ids, mask: request.infer(bert_inputs(ids, mask))[0],
            dim=self.dim, batch_size=batch_size, pad_id=self.pad_id, progress=progress,
        )  # fmt: skip
