"""Ranking quality on judged data, measured through the product's own ranking (search.service).

harness.py holds an eval corpus (documents, an in-memory BM25 index, cached vectors) and ranks
queries with `search.service.rank`, the ranking the site serves; metrics.py scores rankings;
one module per collection: csfcube.py (similar papers), known_items.py (queries about a paper).
"""
