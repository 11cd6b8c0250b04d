"""Tests of the web site and the JSON API, on databases filled from the real shared files."""
