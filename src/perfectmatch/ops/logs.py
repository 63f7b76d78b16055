"""Structured JSON logs with run ids, scrubbed of secrets and personal data.

``configure(level, json=True)`` installs one handler on the root logger (so third-party loggers such
as ``openai`` and ``httpx``, whose debug output includes request bodies, go through it too) with a
``RedactingFilter`` that rewrites every record before any handler sees it:

* API keys (``sk-...``, ``Bearer ...``, ``api_key=...``) and any literal secret passed in;
* email addresses;
* long free text: a string argument longer than ``max_text`` characters, and any run of
  ``prose_words`` or more consecutive words in the final message (open-ended answers, bios,
  prompts), become ``[text: N chars]``.

``run_context(run_id)`` tags every record logged inside it with that run id (a context variable, so
threads started inside carry it when they copy the context).
"""

from __future__ import annotations

import contextvars
import json as jsonlib
import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("perfectmatch_run_id", default=None)

_KEY = re.compile(r"\b(?:sk|pk|rk)[-_][A-Za-z0-9_\-]{8,}|\bBearer\s+[A-Za-z0-9._\-~+/=]{8,}", re.IGNORECASE)
_KEY_ASSIGN = re.compile(
    r"(?i)(?<!\[)\b(api[_-]?key|secret|token|password|authorization)(\W{1,4})((?:bearer\s+)?[^\s,;'\"}\[]{4,})")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_HANDLER_MARK = "_perfectmatch_ops_handler"


_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"' + r"|'((?:[^'\\\n]|\\.)*)'")


def _prose(words: int) -> re.Pattern[str]:
    word = r"[^\W\d_][\w'’\-]*[,.;:!?]?"
    return re.compile(rf"(?:{word}\s+){{{words - 1},}}{word}")


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and drops its args) so no secret or personal text survives.

    Parameters
    ----------
    secrets
        Literal values to mask wherever they appear (e.g. the configured API keys).
    max_text
        String arguments longer than this are replaced by their length.
    prose_words
        A run of this many words or more in the formatted message is replaced by its length.
    """

    def __init__(self, secrets: Iterable[str] = (), *, max_text: int = 80, prose_words: int = 8) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self.max_text = max_text
        self.prose = _prose(prose_words)

    def scrub(self, text: str) -> str:
        """``text`` with secrets, keys, emails and long prose replaced."""
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        text = _KEY_ASSIGN.sub(lambda m: f"{m.group(1)}{m.group(2)}[secret]", text)
        text = _KEY.sub("[secret]", text)
        text = _EMAIL.sub("[email]", text)
        text = _QUOTED.sub(self._quoted, text)
        return self.prose.sub(lambda m: f"[text: {len(m.group(0))} chars]", text)

    def _quoted(self, m: re.Match[str]) -> str:
        inner = m.group(1) if m.group(1) is not None else m.group(2)
        if len(inner) > self.max_text or inner.count(" ") >= 3:  # a sentence, not an identifier
            return f"[text: {len(inner)} chars]"
        return m.group(0)

    def _arg(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > self.max_text:
            return f"[text: {len(value)} chars]"
        if isinstance(value, (bytes, bytearray)) and len(value) > self.max_text:
            return f"[bytes: {len(value)}]"
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            args = tuple(self._arg(a) for a in args)
        elif isinstance(args, dict):
            args = {k: self._arg(v) for k, v in args.items()}
        try:
            message = str(record.msg) % args if args else str(record.msg)
        except (TypeError, ValueError, KeyError):
            message = f"{record.msg} {args!r}"
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        record.run_id = RUN_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, run_id, msg (and exc when present)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "run_id": getattr(record, "run_id", None) or RUN_ID.get(),
            "msg": record.getMessage(),
        }
        if record.exc_text:
            data["exc"] = record.exc_text
        return jsonlib.dumps(data, ensure_ascii=False)


def configure(level: int | str = "INFO", json: bool = True, *, stream: IO[str] | None = None,
              secrets: Iterable[str] = (), max_text: int = 80, prose_words: int = 8) -> logging.Handler:
    """Install (or replace) the perfectmatch handler on the root logger.

    Parameters
    ----------
    level
        Root level (``"DEBUG"`` also shows the HTTP clients' request logs, scrubbed).
    json
        One JSON object per line (default) or a plain ``time level logger [run] message`` line.
    stream
        Where to write (default ``sys.stderr``).
    secrets, max_text, prose_words
        As for ``RedactingFilter``.

    Returns
    -------
    logging.Handler
        The installed handler (configure again to replace it; earlier ones are removed).
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_MARK, False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RedactingFilter(secrets, max_text=max_text, prose_words=prose_words))
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(run_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return handler


def settings_secrets(settings: Any) -> list[str]:
    """The secret values in ``settings`` (API keys, SMTP password, FCM token), for ``configure(secrets=...)``."""
    out = []
    for section, name in (("ai", "openai_api_key"), ("ai", "deepseek_api_key"), ("notify", "smtp_password"),
                          ("notify", "fcm_access_token")):
        value = getattr(getattr(settings, section, None), name, None)
        if value is not None:
            out.append(value.get_secret_value())
    return out


@contextmanager
def run_context(run_id: str | None = None) -> Iterator[str]:
    """Tag every record logged inside the block with ``run_id`` (a fresh one by default)."""
    rid = run_id or uuid.uuid4().hex[:12]
    token = RUN_ID.set(rid)
    try:
        yield rid
    finally:
        RUN_ID.reset(token)
