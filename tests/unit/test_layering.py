"""The core never imports adapters, SQLAlchemy, OpenAI, Typer or rich (walks imports with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

import perfectmatch

ROOT = Path(perfectmatch.__file__).parent
CORE = ["models.py", "errors.py", "ports.py", "frame.py", "questionnaire", "matching", "ai", "billing", "accounts"]
FORBIDDEN = ("sqlalchemy", "typer", "rich", "openai", "stripe", "redis", "diskcache", "psycopg",
             "perfectmatch.adapters", "perfectmatch.cli", "perfectmatch.bootstrap")
# Modules of the core that are themselves the edge of their subpackage (servers, CLIs-for-humans).
ALLOWED = {"ai/fake_server.py", "accounts/wiring.py"}  # wiring: builds the service from an App


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_only_core() -> None:
    offenders = []
    for entry in CORE:
        target = ROOT / entry
        for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            bad = sorted(n for n in _imports(path) if n.startswith(FORBIDDEN))
            if bad:
                offenders.append(f"{rel}: {bad}")
    assert not offenders, offenders
