"""``perfectmatch db``: schema migrations and a look at what the database holds."""

from __future__ import annotations

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit

app = typer.Typer(help="Database schema and status.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context) -> None:
    """Apply every pending schema migration (Alembic) to the configured database."""
    from perfectmatch.adapters.storage.engine import current_revision, make_engine, safe_url, upgrade

    st = state(ctx)
    engine = make_engine(st.settings.db_url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        emit({"database": safe_url(st.settings.db_url), "from": before, "to": current_revision(engine)},
             as_json=st.json, title="db upgrade")
    finally:
        engine.dispose()


@app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """Show the schema revision and row counts of the main tables."""
    from perfectmatch.adapters.storage.engine import current_revision, head_revision, make_engine, safe_url

    st = state(ctx)
    engine = make_engine(st.settings.db_url)
    try:
        rev = current_revision(engine)
        report: dict[str, object] = {
            "database": safe_url(st.settings.db_url), "revision": rev, "head": head_revision(),
            "current": rev == head_revision(),
        }
        if rev is not None:
            from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork

            with SqlAlchemyUnitOfWork(engine) as uow:
                report["rows"] = {name: getattr(uow, name).count()
                                  for name in ("users", "responses", "vectors", "matches", "notifications")}
        emit(report, as_json=st.json, title="db status")
    finally:
        engine.dispose()
