"""Read question banks from JSON (comments allowed), JSON5 or YAML files; errors name file and place."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import json5
import yaml
from pydantic import ValidationError

from perfectmatch.errors import InvalidInputError
from perfectmatch.questionnaire.models import Bank, Question

__all__ = ["default_bank", "load_bank", "parse_bank", "parse_document", "parse_question"]

DEFAULT_BANK = "default.json"


def parse_document(text: str, *, source: str = "<string>", fmt: str = "json") -> Any:
    """Parse JSON-with-comments (via ``json5``) or YAML text into plain Python values.

    Raises
    ------
    InvalidInputError
        With ``source`` and, when the parser reports it, the line and column.
    """
    try:
        if fmt in ("yaml", "yml"):
            return yaml.safe_load(text)
        try:  # plain JSON parses ~50x faster with the stdlib; json5 handles comments and the rest
            return json.loads(text)
        except json.JSONDecodeError:
            return json5.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise InvalidInputError(f"{source}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    except ValueError as exc:  # json5 raises ValueError with "<string>:LINE Unexpected ..."
        raise InvalidInputError(f"{source}: invalid JSON: {exc}") from exc


def _describe(exc: ValidationError, source: str, data: Any) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = list(err.get("loc", ()))
        parts.append(
            f"{source}: {_locate(loc, data)}: {err.get('msg', 'invalid').removeprefix('Value error, ')}"
        )
    return "; ".join(parts)


def _locate(loc: list[Any], data: Any) -> str:
    """Render a pydantic location, naming blocks and questions by id where possible."""
    out: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
            ident = node.get("id") or node.get("questionId") if isinstance(node, dict) else None
            out.append(f"[{part}]" + (f"({ident})" if ident else ""))
        else:
            out.append(f".{part}" if out else str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(out) or "bank"


def parse_bank(data: Any, *, source: str = "<bank>") -> Bank:
    """Build a ``Bank`` from parsed data.

    Raises
    ------
    InvalidInputError
        If the data does not have the shape of a bank; the message lists every shape error with
        its place (``blocks[2](lifestyle).questions[0](lc_pets).options``).
    """
    if not isinstance(data, dict):
        raise InvalidInputError(f"{source}: a bank must be an object with 'version' and 'blocks'")
    try:
        return Bank.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(_describe(exc, source, data)) from exc


def parse_question(text: str, *, source: str = "<question>") -> Question:
    """Parse one question (JSON with comments), e.g. the spec's ``q1`` branching example."""
    data = parse_document(text, source=source)
    try:
        return Question.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(_describe(exc, source, data)) from exc


def load_bank(path: str | Path) -> Bank:
    """Load a bank file: ``.json``/``.json5`` (``//`` and ``/* */`` comments allowed) or ``.yaml``/``.yml``.

    Only the shape is checked here; run ``questionnaire.validate(bank)`` for the semantic checks.

    Raises
    ------
    InvalidInputError
        If the file cannot be read or parsed, naming the file and the place.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read question bank: {exc.strerror or exc}") from exc
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"
    return parse_bank(parse_document(text, source=str(path), fmt=fmt), source=str(path))


_default: Bank | None = None


def default_bank() -> Bank:
    """The bank shipped with the package (``questionnaire/banks/default.json``), loaded once."""
    global _default
    if _default is None:
        ref = resources.files("perfectmatch.questionnaire") / "banks" / DEFAULT_BANK
        text = ref.read_text(encoding="utf-8")
        _default = parse_bank(parse_document(text, source=DEFAULT_BANK), source=DEFAULT_BANK)
    return _default
