"""Tests of feed periods, the feed service and BibTeX citations."""
