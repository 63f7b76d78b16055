"""Embedders: turn open-ended answers into vectors (offline hashing default, OpenAI API)."""
