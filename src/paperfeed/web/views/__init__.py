"""HTML views, one module per page family: feed (day, week, month lists) and paper."""
