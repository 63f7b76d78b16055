"""Output helpers for CLI commands: results on stdout (JSON or rich), progress on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from perfectmatch.ports import NO_PROGRESS
from perfectmatch.ports import Progress as ProgressReporter

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


def to_jsonable(obj: Any) -> Any:
    """Turn dataclasses, pydantic models, enums, dates and numpy scalars into JSON values."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    return obj


def emit(data: Any, *, as_json: bool, title: str | None = None) -> None:
    """Print a result: stable JSON with ``--json``, otherwise a readable table."""
    value = to_jsonable(data)
    if as_json:
        sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
        return
    if isinstance(value, Mapping):
        table = Table(title=title, show_header=False)
        table.add_column("key", style="bold")
        table.add_column("value")
        for k, v in value.items():
            table.add_row(str(k), v if isinstance(v, str) else json.dumps(v))
        stdout.print(table)
    elif isinstance(value, Sequence) and value and isinstance(value[0], Mapping):
        table = Table(title=title)
        cols = list(value[0].keys())
        for c in cols:
            table.add_column(str(c))
        for row in value:
            table.add_row(*(str(row.get(c, "")) for c in cols))
        stdout.print(table)
    else:
        stdout.print(value)


class _RichProgress:
    def __init__(self, progress: RichProgress) -> None:
        self._progress = progress
        self._tasks: dict[str, Any] = {}

    def start(self, task: str, total: int | None) -> None:
        self._tasks[task] = self._progress.add_task(task, total=total)

    def advance(self, task: str, n: int = 1) -> None:
        if task not in self._tasks:
            self.start(task, None)
        self._progress.advance(self._tasks[task], n)


@contextmanager
def progress_to_stderr(*, enabled: bool) -> Iterator[ProgressReporter]:
    """A rich progress bar on stderr when enabled and stderr is a terminal, else a silent reporter."""
    if not (enabled and sys.stderr.isatty()):
        yield NO_PROGRESS
        return
    progress = RichProgress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True,
    )
    with progress:
        yield _RichProgress(progress)
