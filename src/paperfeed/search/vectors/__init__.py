"""Paper vectors: stored in the database (store.py), and searched by nearest neighbour (ann.py)."""
