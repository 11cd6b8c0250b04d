"""Ingest: one module per source of paper metadata, all writing through the store's writer."""
