"""Tests of shoal.store: one conformance suite over every backend, plus SQLite specifics."""
