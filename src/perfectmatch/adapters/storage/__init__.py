"""Storage adapter on SQLAlchemy 2.0 Core: SQLite (embedded default) and PostgreSQL."""
