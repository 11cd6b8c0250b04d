"""The eval vector cache on disk: two processes (or threads) saving one cache never collide."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from paperfeed.evals.harness import VectorCache


class _Named:
    """Stands in for an embedder: the cache only needs its name (nothing is embedded here)."""

    name = "race/test"
    dim = 384


def test_concurrent_saves_of_one_cache_never_collide(tmp_path: Path) -> None:
    caches = [VectorCache(tmp_path, _Named()) for _ in range(2)]  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    for number, cache in enumerate(caches):
        cache._vectors = {f"{number}-{i}": row for i, row in enumerate(rng.random((3000, 384)))}
    errors: list[BaseException] = []

    def save_often(cache: VectorCache) -> None:
        try:
            for _ in range(15):
                cache._save()
        except BaseException as error:  # the test reports what a thread raised
            errors.append(error)

    threads = [threading.Thread(target=save_often, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    saved = np.load(caches[0].path)
    assert len(saved["keys"]) == 3000  # one writer's whole cache, never a mix or a fragment
    assert not list(tmp_path.glob("*.partial*"))  # no scratch file left behind
