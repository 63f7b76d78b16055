"""The Alembic migrations build exactly the schema in ``schema.py`` on SQLite and PostgreSQL, and 0007 downgrades."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from perfectmatch.adapters.storage.engine import current_revision, head_revision, table_names, upgrade
from perfectmatch.adapters.storage.schema import metadata

ACCOUNT_TABLES = {"credentials", "email_tokens", "external_identities", "login_throttle", "photos"}


def test_migrated_database_matches_schema(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_0007_downgrades_and_upgrades_again(engine: Engine) -> None:
    from alembic import command

    from perfectmatch.adapters.storage.engine import _alembic_config

    command.downgrade(_alembic_config(engine), "0006")
    assert not ACCOUNT_TABLES & set(table_names(engine))
    upgrade(engine)
    assert set(table_names(engine)) >= ACCOUNT_TABLES
    assert current_revision(engine) == head_revision()
