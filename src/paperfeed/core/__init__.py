"""Cross-cutting pieces every layer shares: errors, the site secret, progress reports, the clock."""
