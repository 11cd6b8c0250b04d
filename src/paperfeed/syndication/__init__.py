"""Feeds for feed readers: which papers each RSS/Atom feed carries, and the documents."""
