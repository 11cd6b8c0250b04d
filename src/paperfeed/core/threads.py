"""Web workers do their number-crunching on one thread a request: BLAS and OpenMP pools off."""

from __future__ import annotations

import contextlib
import os

# A web worker answers many requests at once, and `serve --workers N` already puts one worker on
# each core. The thread pools of OpenBLAS (numpy's matrix products: exact vector search, the
# recommender) and of OpenMP (faiss) then only spin beside the other workers: measured on this
# 2-core machine under load, a search took 80-105 ms with them and 50-65 ms without.
_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread_per_request() -> None:
    """Limit the math libraries of this process to one thread (unless the environment says)."""
    for name in _VARIABLES:
        os.environ.setdefault(name, "1")  # read by libraries that load later, and by children
    import numpy  # noqa: F401 - loads OpenBLAS, so that the limit below reaches it
    from threadpoolctl import threadpool_limits

    with contextlib.suppress(ImportError):
        import faiss  # noqa: F401 - loads its OpenMP runtime
    threadpool_limits(limits=int(os.environ["OPENBLAS_NUM_THREADS"]))
