"""Orderings of papers beyond plain counts: trending, and the recommender with the signals it
learns from (follows, "not interested", what it keeps per reader)."""
