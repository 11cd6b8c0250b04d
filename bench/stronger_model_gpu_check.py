"""The product's GPU embedder for mpnet (search.embedding.mpnet.TorchMpnet, what `paperfeed embed
--device cuda --model mpnet` runs) on the lent GPU, against bench/stronger_model.py's own loop.

Run there once the parts that bench/stronger_model.py prepares are in /tmp/carry:
    python3 bench/stronger_model_gpu_check.py
Prints its papers/s on the eval texts and the cosine of its vectors to the reference loop's.
"""

import json
import lzma
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]


def main() -> None:
    import stronger_model

    from paperfeed.search.embedding.mpnet import TorchMpnet

    carry = Path("/tmp/carry")
    with open(carry / "mpnet" / "model.safetensors", "wb") as joined:
        for piece in sorted(carry.glob("mpnet.safetensors.*")):
            joined.write(piece.read_bytes())
    with lzma.open(carry / "texts.jsonl.xz", "rt") as lines:
        texts = [json.loads(line)["t"] for line in lines]
    model = TorchMpnet(carry / "mpnet", device="cuda")
    model.embed(texts[:256])  # warm-up: the tokenizer processes start, kernels load
    started = time.perf_counter()
    mine = model.embed(texts, batch_size=512)
    seconds = time.perf_counter() - started
    print(
        f"TorchMpnet.embed: {len(texts)} texts in {seconds:.1f} s = {len(texts) / seconds:,.0f}/s"
    )
    reference, _ = stronger_model._embed_all(carry / "mpnet", texts, 1, 512)
    reference = reference.astype(np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    cosines = (mine * reference).sum(1)
    print(f"cosine to the bench's own fp16 loop: min {cosines.min():.5f} mean {cosines.mean():.6f}")


if __name__ == "__main__":
    main()
