"""The ``perfectmatch`` command: a thin Typer shell over the library.

Every command parses arguments, calls library functions and formats the result. Errors derived
from ``PerfectMatchError`` print one ``Error: ...`` line on stderr and exit 1 (a traceback only
with ``--debug``). Sub-command groups live in sibling modules and are registered below.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from perfectmatch.config import Settings
from perfectmatch.errors import PerfectMatchError, describe_validation_error

if TYPE_CHECKING:
    from perfectmatch.bootstrap import App

app = typer.Typer(
    name="perfectmatch",
    help="perfectmatch: questionnaire, daily matching batch, AI analysis, billing and operations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@dataclass
class CliState:
    """Built once per invocation from global options; ``app`` is created on first use."""

    settings: Settings
    json: bool = False
    debug: bool = False
    _app: App | None = field(default=None, repr=False)

    @property
    def app(self) -> App:
        if self._app is None:
            from perfectmatch.bootstrap import build_app

            self._app = build_app(self.settings)
        return self._app

    def close(self) -> None:
        """Release the database pool and cache, if this invocation opened them."""
        if self._app is not None:
            self._app.close()
            self._app = None


@app.callback()
def _main(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="database URL (default: $PERFECTMATCH_DB_URL)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    env_file: Annotated[Path | None, typer.Option("--env-file", help="read settings from this .env file")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="logs as redacted JSON lines on stderr "
                                           "($PERFECTMATCH_LOG_FORMAT=json)")] = False,
    log_level: Annotated[str | None, typer.Option("--log-level", help="log level (default: "
                                                  "$PERFECTMATCH_LOG_LEVEL)")] = None,
) -> None:
    overrides = {"db_url": db} if db else {}
    settings = Settings(_env_file=env_file or ".env", **overrides)  # type: ignore[call-arg]
    ctx.obj = CliState(settings=settings, json=json_out, debug=debug)
    ctx.call_on_close(ctx.obj.close)
    if log_json or log_level or settings.log_format == "json":
        _configure_logs(ctx, settings, json_lines=log_json or settings.log_format == "json",
                        level=log_level or settings.log_level)


def _configure_logs(ctx: typer.Context, settings: Settings, *, json_lines: bool, level: str) -> None:
    """Install ``ops.logs``' redacting handler (JSON or text) for this invocation; removed at its end."""
    import logging

    from perfectmatch.errors import InvalidInputError
    from perfectmatch.ops.logs import configure, settings_secrets

    if not isinstance(logging.getLevelName(level.upper()), int):
        raise InvalidInputError(f"--log-level: unknown level {level!r} (DEBUG, INFO, WARNING, ERROR)")
    root = logging.getLogger()
    before = root.level
    handler = configure(level, json=json_lines, secrets=settings_secrets(settings))

    def remove() -> None:
        root.removeHandler(handler)
        root.setLevel(before)

    ctx.call_on_close(remove)


def state(ctx: typer.Context, *, json_out: bool = False) -> CliState:
    """The ``CliState`` of this invocation (from any sub-command); a command's own ``--json``
    (``json_out``) turns JSON output on like the global option."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    obj.json = obj.json or json_out
    return obj


JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout (as the global --json)")]


def _register() -> None:
    from perfectmatch.cli import ai, db, match, ops, population, questionnaire, social

    app.add_typer(db.app, name="db")
    app.command("simulate")(population.simulate_cmd)
    app.add_typer(population.import_app, name="import")
    app.add_typer(questionnaire.app, name="questionnaire")
    app.add_typer(match.batch_app, name="batch")
    app.add_typer(match.matches_app, name="matches")
    app.add_typer(ai.app, name="ai")
    ops.register(app, db.app)
    social.register(app)
    app.add_typer(importlib.import_module("perfectmatch.cli.billing").app, name="billing")
    app.add_typer(importlib.import_module("perfectmatch.cli.support").app, name="user")
    eval_app = importlib.import_module("perfectmatch.cli.evaluate").app
    eval_app.command("population")(importlib.import_module("perfectmatch.cli.eval_population").population_cmd)
    app.add_typer(eval_app, name="eval")
    app.command("report")(importlib.import_module("perfectmatch.cli.report").report_cmd)


_register()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app and turn library errors into one stderr line."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = app(args=argv, standalone_mode=False)  # a typer.Exit(n) comes back as its exit code
    except (PerfectMatchError, ValidationError, OSError) as exc:
        if debug:
            raise
        msg = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"Error: {msg}", err=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors: typer prints them with a hint
        exc.show()
        return int(getattr(exc, "exit_code", 2))
    except Exception as exc:
        if debug:
            raise
        typer.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
        return 1
    return code if isinstance(code, int) else 0
