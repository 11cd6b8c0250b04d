"""`paperfeed eval recommend` on the first real arXiv papers: the SVM's cache per reader sample."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.evals import recommend
from paperfeed.settings import Settings

CUTOFF = date(2025, 4, 14)  # the first 6,000 papers run to 2025-04-25: two weeks after it


def test_the_svm_scores_are_kept_and_reused_only_for_the_same_sample(
    arxiv_sample, home_with_models: Path
) -> None:
    snapshot = arxiv_sample(6000)
    settings = Settings(home=home_with_models, database_url="sqlite://")
    kept = home_with_models / "cache" / "eval" / "asl-svm"

    first = recommend.run(settings, snapshot, CUTOFF, count=3, weeks=2, svm_cache=True)
    files = sorted(kept.glob("*.npz"))
    again = recommend.run(settings, snapshot, CUTOFF, count=3, weeks=2, svm_cache=True)

    assert [f.name for f in files] == ["arxiv-6000_2025-04-14_2w_seed11_3.npz"]
    saved = np.load(files[0])
    assert saved["scores"].shape == (3, first["protocol"]["candidates"])
    assert (saved["seconds"] > 0).all()
    assert first["protocol"]["svm_cached"] is False
    assert again["protocol"]["svm_cached"] is True
    assert again["asl-svm"] == first["asl-svm"]  # the same scores, and the times they took
    assert first["asl-svm"]["ndcg@20"] > first["random"]["ndcg@20"]

    other_seed = recommend.run(settings, snapshot, CUTOFF, count=3, weeks=2, seed=12)
    assert other_seed["protocol"]["svm_cached"] is False
    assert sorted(kept.glob("*.npz")) == files  # without svm_cache nothing is written


def test_the_command_says_when_the_svm_figures_come_from_the_cache(
    arxiv_sample, home_with_models: Path
) -> None:
    arguments = ["eval", "recommend", "--snapshot", str(arxiv_sample(6000)), "--cutoff",
                 CUTOFF.isoformat(), "--weeks", "2", "--readers", "3", "--cache-svm"]  # fmt: skip

    made = CliRunner().invoke(app, arguments)
    reused = CliRunner().invoke(app, arguments)

    assert made.exit_code == 0, made.output
    assert reused.exit_code == 0, reused.output
    assert "from the cache" not in made.output
    assert "SVM scores and times from the cache" in reused.output
    svm_line = next(line for line in made.output.splitlines() if line.startswith("asl-svm"))
    assert svm_line in reused.output.splitlines()
