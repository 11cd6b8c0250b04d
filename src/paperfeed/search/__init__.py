"""Search: sentence embeddings of papers, their storage, and the indexes built over them."""
