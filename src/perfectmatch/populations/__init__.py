"""Populations: synthetic users (simulate) and real data-set importers (OkCupid)."""
