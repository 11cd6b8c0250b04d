"""The nearest-neighbour index of paper vectors on disk: exact below a size, faiss IVF above it.

Inner product on L2-normalized float32 vectors (cosine). Small sets are scanned exactly with
numpy; from IVF_MIN_SIZE up, a faiss IVF index over 4-bit product-quantized codes (an eighth
of the vectors' size) proposes candidates and every candidate is re-scored exactly against the
stored float32 vectors, which recovers the recall the quantization loses. At 1M vectors this
took 2.8 ms a query at recall@10 0.977 (bench/search_scale.py), where 8-bit scalar codes took
12 ms and a linear scan 85 ms. (An exact scan reads every vector per query: 115 MB at 75k
papers, so IVF starts early.)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

IVF_MIN_SIZE = 20_000
RERANK_CANDIDATES = 400
NPROBE = 64  # of about sqrt(N) lists (recall vs speed: bench/search_scale.py)
_TRAIN_PER_LIST = 48  # training vectors per inverted list (faiss warns below 39)


@dataclass
class VectorIndex:
    """Vectors of papers (rows), their ids and keys, and an optional IVF index over them."""

    model: str
    ids: np.ndarray  # str, one per row
    keys: np.ndarray  # int64 (lexical.paper_key), one per row
    vectors: np.ndarray  # float32 (rows, dim), memory-mapped when loaded
    ivf: faiss.Index | None
    marker: str  # what the index was built from (the embedding store's state)

    def __post_init__(self) -> None:
        self._key_order = np.argsort(self.keys, kind="stable")
        self._sorted_keys = self.keys[self._key_order]
        # Per query, hits are named from a list (not numpy strings) and rows are gathered from
        # a plain array view of the memory map (numpy's memmap wraps every slice it returns).
        self._id_list: list[str] = self.ids.tolist()
        self._row_of_id = {paper_id: row for row, paper_id in enumerate(self._id_list)}
        mapped = isinstance(self.vectors, np.memmap)
        self._rows: np.ndarray = self.vectors.view(np.ndarray) if mapped else self.vectors

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0

    def has_vector(self, paper_id: str) -> bool:
        return paper_id in self._row_of_id

    def row_of(self, paper_id: str) -> int | None:
        return self._row_of_id.get(paper_id)

    def rows_of_keys(self, keys: list[int]) -> np.ndarray:
        """Rows holding these keys (keys without a vector are left out)."""
        if not keys or not len(self):
            return np.empty(0, dtype=np.int64)
        wanted = np.asarray(keys, dtype=np.int64)
        positions = np.searchsorted(self._sorted_keys, wanted)
        positions = np.minimum(positions, len(self._sorted_keys) - 1)
        found = self._sorted_keys[positions] == wanted
        return self._key_order[positions[found]]

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k nearest papers to the query vector, by exact cosine, best first."""
        if not len(self) or k <= 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if self.ivf is None:
            scores = self.vectors @ query[0]
            return self._top(np.arange(len(self)), scores, k)
        candidates = max(k, RERANK_CANDIDATES)
        _approx, rows = self.ivf.search(query, candidates)
        rows = rows[0][rows[0] >= 0]
        return self.score_rows(query[0], rows, k)

    def score_rows(self, query: np.ndarray, rows: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k best of the given rows, scored exactly against the stored vectors."""
        if not len(rows):
            return []
        rows = np.sort(np.asarray(rows, dtype=np.int64))  # sequential reads of the memory map
        scores = self._rows[rows] @ np.asarray(query, dtype=np.float32).reshape(-1)
        return self._top(rows, scores, k)

    def _top(self, rows: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        k = min(k, len(rows))
        best = np.argpartition(-scores, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
        best = best[np.argsort(-scores[best], kind="stable")]
        ids, top = self._id_list, rows[best].tolist()
        return [(ids[row], score) for row, score in zip(top, scores[best].tolist(), strict=True)]

    def score_ids(self, query: np.ndarray, ids: list[str]) -> list[tuple[str, float]]:
        """Exact scores of those of `ids` that have a vector."""
        rows = [row for row in map(self._row_of_id.get, ids) if row is not None]
        return self.score_rows(query, np.asarray(rows, dtype=np.int64), len(rows))

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        row = self.row_of(paper_id)
        return None if row is None else self._rows[row]


def build(
    path: Path, model: str, ids: list[str], keys: list[int], vectors: np.ndarray, marker: str
) -> None:
    """Write a complete index into the empty directory `path` (the caller swaps it in)."""
    path.mkdir(parents=True, exist_ok=False)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    np.save(path / "vectors.npy", vectors)
    np.save(path / "ids.npy", np.asarray(ids, dtype=str))
    np.save(path / "keys.npy", np.asarray(keys, dtype=np.int64))
    kind = "exact"
    if len(ids) >= IVF_MIN_SIZE:
        faiss.write_index(train_ivf(vectors), str(path / "ivf.faiss"))
        kind = "ivf-pq4fs"
    meta = {"model": model, "count": len(ids), "kind": kind, "marker": marker}
    (path / "meta.json").write_text(json.dumps(meta))


def train_ivf(vectors: np.ndarray) -> faiss.Index:
    """An IVF index (about sqrt(N) lists) over 4-bit product-quantized codes, all vectors added.

    The codes (dim/2 bytes a vector) are scanned with faiss's SIMD "fast scan" kernels; they only
    propose candidates, which VectorIndex.search re-scores exactly.
    """
    count, dim = vectors.shape
    lists = max(16, int(math.sqrt(count)))
    index = faiss.index_factory(dim, f"IVF{lists},PQ{dim // 2}x4fs", faiss.METRIC_INNER_PRODUCT)
    sample_size = min(count, max(lists * _TRAIN_PER_LIST, 64_000))
    sample = np.random.default_rng(0).choice(count, size=sample_size, replace=False)
    index.train(vectors[np.sort(sample)])
    for start in range(0, count, 100_000):
        index.add(vectors[start : start + 100_000])
    faiss.extract_index_ivf(index).nprobe = NPROBE
    return index


def load(path: Path) -> VectorIndex | None:
    """The index in `path`, vectors memory-mapped; None where there is none."""
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    ivf = None
    if (path / "ivf.faiss").is_file():
        ivf = faiss.read_index(str(path / "ivf.faiss"))
        faiss.extract_index_ivf(ivf).nprobe = NPROBE
    return VectorIndex(
        model=meta["model"],
        ids=np.load(path / "ids.npy"),
        keys=np.load(path / "keys.npy"),
        vectors=np.load(path / "vectors.npy", mmap_mode="r"),
        ivf=ivf,
        marker=meta.get("marker", ""),
    )
