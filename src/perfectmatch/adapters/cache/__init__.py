"""Cache adapters: diskcache (default, JSON only) and Redis."""
