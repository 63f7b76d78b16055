"""Matching core: profile vectors, mutual prefilters, candidate generation, scoring, distribution."""
