"""Test helpers for automux and its plugin authors: fake adapters (``automux.testing.fakes``)."""
