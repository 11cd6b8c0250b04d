"""Benchmark: one reader's recommendations for a week with the whole arXiv snapshot stored.

    python bench/recommend.py [--data DIR] [--database-url URL] [--week 2026-W10]
                              [--requests 200] [--svm-requests 5]

The store holds the 74,728 papers of the shared arXiv snapshot (imported first unless the
database already holds papers) and their static-model vectors (embedded first unless stored).
A reader has 50 upvotes (papers about diffusion models from before the week), 5 papers marked
"not interested" and follows of an author, a category and a saved search. Timed: the service
call the page and the API make (`Recommender.recommend`: read the profile, rank the week,
load the page of 50 papers), in a fresh session each time, after one first call that builds the
week's candidates; every tenth request follows a new upvote, so the timing includes a taste
that changed. The first (cold) call is printed apart.

Baseline in the same run: arxiv-sanity-lite's recommender, per request: a LinearSVC (C=0.1,
balanced) trained on the tf-idf of every stored paper (1-2 grams, 20k features, computed once
before timing, as its daemon does) with the reader's upvotes positive, then scoring the week.
Target: p95 at most 20 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from paperfeed.community import accounts, votes
from paperfeed.feed import parse_period
from paperfeed.ingest import arxiv_jsonl
from paperfeed.ingest.quickstart import find_data_dir
from paperfeed.rank import dismissals, follows
from paperfeed.rank.recommend import Recommender
from paperfeed.search.embedding import load_embedder, paper_text, text_hash
from paperfeed.search.vectors import store as vectors_store
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import PaperEmbeddingRow, PaperRow


def prepare(db: Database, data: Path, settings: Settings) -> None:
    with db.sessions() as session:
        papers = session.scalar(select(func.count()).select_from(PaperRow)) or 0
    if not papers:
        started = time.perf_counter()
        arxiv_jsonl.import_file(db, next((data / "arxiv-cs").glob("*.jsonl.gz")))
        print(f"imported the snapshot in {time.perf_counter() - started:.1f} s")
    embedder = load_embedder(settings, "static", "cpu")
    with db.sessions() as session:
        embedded = session.scalar(
            select(func.count())
            .select_from(PaperEmbeddingRow)
            .where(PaperEmbeddingRow.model == embedder.name)
        )
        if embedded:
            return
        rows = session.execute(select(PaperRow.id, PaperRow.title, PaperRow.abstract)).all()
    started = time.perf_counter()
    texts = [paper_text(r.title, r.abstract) for r in rows]
    vectors = embedder.embed(texts)
    with db.transaction() as session:
        vectors_store.save_embeddings(
            session,
            embedder.name,
            [(r.id, text_hash(t), v) for r, t, v in zip(rows, texts, vectors, strict=True)],
            replacing=(),
        )
    print(f"embedded {len(rows)} papers (static) in {time.perf_counter() - started:.1f} s")


def make_reader(db: Database, first, rng: random.Random):
    with db.transaction() as session:
        user = accounts.get_user(session, "bench-reader")
        if user is None:
            user = accounts.create_user(session, "bench-reader", "b@example.org", "benchmark pw")
        for paper_id in votes.upvoted_ids(session, user):  # a run starts from the same 50
            votes.remove_upvote(session, user, paper_id)
        earlier = session.execute(
            select(PaperRow.id, PaperRow.title, PaperRow.abstract, PaperRow.categories)
            .where(PaperRow.announced_on < first)
            .order_by(PaperRow.id)
        ).all()
        about = [r for r in earlier if "diffusion model" in f"{r.title} {r.abstract}".lower()]
        for row in rng.sample(about, 50):
            votes.upvote(session, user, row.id)
        for row in rng.sample([r for r in earlier if "cs.RO" in r.categories], 5):
            dismissals.dismiss(session, user, row.id)
        follows.follow(session, user, "category", "cs.CV")
        follows.follow(session, user, "search", "video generation")
        follows.follow(session, user, "author", "Kaiming He")
    return user, [r.id for r in earlier]


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--week", default="2026-W10")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--svm-requests", type=int, default=5)
    args = parser.parse_args()
    data = args.data or find_data_dir()
    if data is None:
        print("no shared data folder found: pass --data", file=sys.stderr)
        return 2
    home = Path(tempfile.gettempdir()) / "paperfeed-bench-recommend"
    home.mkdir(exist_ok=True)
    models = Path.home() / ".cache" / "paperfeed-tests" / "home" / "models"
    if models.is_dir() and not (home / "models").exists():
        (home / "models").symlink_to(models, target_is_directory=True)
    url = args.database_url or f"sqlite:///{home / 'bench.db'}"
    settings = Settings(home=home, database_url=url, embedding_model="static")
    db = Database(url)
    prepare(db, data, settings)
    week = parse_period("week", args.week)
    rng = random.Random(5)
    user, earlier = make_reader(db, week.first, rng)
    recommender = Recommender(settings)

    started = time.perf_counter()
    with db.sessions() as session:
        page = recommender.recommend(session, user.id, week.first, week.last, page_size=50)
    cold = time.perf_counter() - started
    print(f"week {week.slug}: {page.total} candidates; first call (word space and candidates "
          f"built) {1000 * cold:.0f} ms; first reason: {page.items[0].reason}")  # fmt: skip

    times, changed = [], 0
    for request in range(args.requests):
        if request % 10 == 9:  # a new upvote: the next page must already reflect it
            with db.transaction() as session:
                votes.upvote(session, user, rng.choice(earlier))
        started = time.perf_counter()
        with db.sessions() as session:
            again = recommender.recommend(session, user.id, week.first, week.last, page_size=50)
        times.append(1000 * (time.perf_counter() - started))
        if request % 10 == 9 and again.items != page.items:
            changed += 1
        page = again

    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    with db.sessions() as session:
        rows = session.execute(
            select(PaperRow.id, PaperRow.title, PaperRow.abstract, PaperRow.announced_on)
        ).all()
        liked = set(votes.upvoted_ids(session, user))
    vectorizer = TfidfVectorizer(
        strip_accents="unicode", lowercase=True, stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b", ngram_range=(1, 2),
        max_features=20000, sublinear_tf=True, max_df=0.1, min_df=5,
    )  # fmt: skip
    texts = [f"{r.title} {r.abstract}" for r in rows]
    features = sparse.csr_matrix(vectorizer.fit_transform(texts))
    labels = np.asarray([1.0 if r.id in liked else 0.0 for r in rows])
    in_week = np.asarray([r.announced_on and week.first <= r.announced_on <= week.last
                          for r in rows])  # fmt: skip
    svm_times = []
    for _ in range(args.svm_requests):
        started = time.perf_counter()
        classifier = LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=0.1)
        classifier.fit(features, labels)
        scores = classifier.decision_function(features[in_week])
        np.argsort(-scores)[:50]
        svm_times.append(1000 * (time.perf_counter() - started))

    p50, p95 = percentile(times, 50), percentile(times, 95)
    svm50, svm95 = percentile(svm_times, 50), percentile(svm_times, 95)
    print(f"stored papers: {len(rows)}; reader: {len(liked)} upvotes, 5 not interested, 3 follows")
    print(f"paperfeed recommend (week, page of 50): p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
          f"max {max(times):.1f} ms  ({len(times)} requests, mean {statistics.mean(times):.1f})")
    print(f"arxiv-sanity-lite SVM per request:        p50 {svm50:.0f} ms  p95 {svm95:.0f} ms  "
          f"({len(svm_times)} requests)")  # fmt: skip
    print(f"ratio (SVM / paperfeed) at p95: {svm95 / p95:.0f}x; target p95 <= 20 ms: "
          f"{'met' if p95 <= 20 else 'NOT met'}")  # fmt: skip
    print(f"a new upvote changed the next page in {changed} of {args.requests // 10} cases")
    db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
