"""The community layer: accounts, upvotes, comments and submissions on top of the paper store."""
