"""Ranking papers beyond plain counts: the trending score."""
