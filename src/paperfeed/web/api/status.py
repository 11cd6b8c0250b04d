"""GET /api/status: how many papers there are and how many are embedded, for operators."""

from __future__ import annotations

from fastapi import APIRouter, Request

from paperfeed.search.background import status_report

router = APIRouter(prefix="/api", tags=["status"])


@router.get("/status")
def status(request: Request) -> dict:
    """Papers stored, vectors per embedding model, and what the background embedder is doing."""
    state = request.app.state
    embedder = getattr(state, "background_embedder", None)
    return status_report(state.db, state.settings, embedder.state if embedder else None)
