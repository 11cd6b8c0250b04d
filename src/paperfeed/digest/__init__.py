"""Email digests: subscriptions with double opt-in, composing, and exactly-once SMTP delivery."""
