"""Read-only mode: every write to the database is refused with ``ReadOnlyError``; reads keep working.

Two switches turn it on (either is enough):

* ``PERFECTMATCH_READ_ONLY=true``: this process only, for its whole life (a reporting job, a
  replica, a process started during an incident). ``perfectmatch read-only off`` cannot lift it.
* the runtime switch ``perfectmatch read-only on|off``: durable, stored in the database itself as an
  ``ops.read_only_on``/``ops.read_only_off`` row of the audit log (who, when, why), so *every*
  process sharing the database picks it up within ``PERFECTMATCH_READ_ONLY_CHECK_S`` seconds,
  without a restart or a redeploy. This is the one for incident containment across many processes.

Enforcement is on the engine (``install``), so no repository, raw SQL or bulk path can bypass it:

1. ``before_cursor_execute`` refuses any statement that is not a read (allowlist: ``SELECT``,
   ``WITH`` without a data-modifying part, ``SHOW``, ``EXPLAIN`` without ``ANALYZE``, transaction
   control, ``SET``, ``PRAGMA`` without ``=``) with a ``ReadOnlyError`` naming the statement kind.
2. The database enforces it too: each pooled connection is switched to
   ``default_transaction_read_only`` (PostgreSQL) or ``PRAGMA query_only`` (SQLite) at the start
   of a transaction while the mode is on, which also stops writes that never pass through
   SQLAlchemy's statement events (``COPY`` on a raw cursor, ``nextval``); ``handle_error`` turns
   the database's refusal into the same ``ReadOnlyError``.
3. ``ReadOnlyAwareCache`` skips cache writes and deletes while the mode is on (cached values are
   derived data, so reads that would cache their result still answer, uncached).

The switch itself writes through a connection with the ``perfectmatch_read_only_bypass`` execution
option; nothing else uses it.
"""

from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, insert

from perfectmatch.adapters.storage.schema import audit_log
from perfectmatch.errors import ReadOnlyError

READ_ONLY_ON = "ops.read_only_on"
READ_ONLY_OFF = "ops.read_only_off"
BYPASS = "perfectmatch_read_only_bypass"
_NATIVE = "perfectmatch_read_only_native"

_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()+", re.DOTALL)
_FIRST = re.compile(r"[A-Za-z]+")
_MODIFYING = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
_READS = {
    "SELECT",
    "SHOW",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "END",
    "SET",
    "RESET",
    "VALUES",
    "FETCH",
    "CLOSE",
    "DECLARE",
    "DEALLOCATE",
    "DISCARD",
    "LISTEN",
    "UNLISTEN",
}


def statement_kind(sql: str) -> str:
    """The statement's first keyword, upper case (``"INSERT"``), ignoring comments and parentheses."""
    m = _FIRST.match(_COMMENTS.sub("", sql))
    return m.group(0).upper() if m else ""


_TARGET = re.compile(r"\b(?:INTO|UPDATE|FROM|TABLE|ON)\s+\"?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


def describe_statement(sql: str) -> str:
    """``"INSERT into likes"``: the statement kind and the table it names, for error messages."""
    kind = statement_kind(sql) or "statement"
    m = _TARGET.search(sql)
    return f"{kind} on {m.group(1)}" if m else kind


def is_write(sql: str) -> bool:
    """Whether ``sql`` may change data or schema (everything outside a small allowlist of reads)."""
    kind = statement_kind(sql)
    if kind in _READS:
        return False
    if kind == "WITH":
        return _MODIFYING.search(sql) is not None
    if kind == "EXPLAIN":
        return re.search(r"\bANALY[SZ]E\b", sql, re.IGNORECASE) is not None
    if kind == "PRAGMA":
        return "=" in sql
    return True


@dataclass(frozen=True)
class ReadOnlyState:
    """Whether writes are refused and why: ``source`` is ``"setting"``, ``"switch"`` or ``""`` (off)."""

    on: bool
    source: str = ""
    since: datetime | None = None
    actor: str = ""
    reason: str = ""

    def describe(self) -> str:
        """One line for an operator: ``read-only mode is ON (switch, since ... by ...: reason)``."""
        if not self.on:
            return "read-only mode is off: writes are allowed"
        if self.source == "setting":
            return "read-only mode is ON (PERFECTMATCH_READ_ONLY=true for this process)"
        when = f" since {self.since.isoformat(timespec='seconds')}" if self.since else ""
        who = f" by {self.actor}" if self.actor else ""
        why = f": {self.reason}" if self.reason else ""
        return f"read-only mode is ON (runtime switch{when}{who}{why})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "read_only": self.on,
            "source": self.source,
            "since": self.since.isoformat() if self.since else None,
            "actor": self.actor,
            "reason": self.reason,
        }


OFF = ReadOnlyState(False)


def _refusal(state: ReadOnlyState, what: str) -> ReadOnlyError:
    lift = "unset PERFECTMATCH_READ_ONLY" if state.source == "setting" else "`perfectmatch read-only off` lifts it"
    return ReadOnlyError(f"{what} refused: {state.describe()}; {lift}")


def _parse_at(value: Any) -> datetime | None:
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _switch_on_dbapi(dbapi_conn: Any, dialect: str) -> ReadOnlyState | None:
    """The runtime switch as stored, read on a raw DBAPI connection (``None``: no audit log table yet)."""
    cur = dbapi_conn.cursor()
    try:
        if dialect == "postgresql":
            cur.execute("SELECT to_regclass('audit_log') IS NOT NULL")
        else:
            cur.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'")
        if not cur.fetchone()[0]:
            return None
        cur.execute(
            f"SELECT kind, at, actor, detail FROM audit_log WHERE kind IN ('{READ_ONLY_ON}', "
            f"'{READ_ONLY_OFF}') ORDER BY id DESC LIMIT 1"
        )
        row = cur.fetchone()
    finally:
        cur.close()
    if row is None or row[0] != READ_ONLY_ON:
        return OFF
    detail = row[3] if isinstance(row[3], dict) else json.loads(row[3] or "{}")
    return ReadOnlyState(True, "switch", _parse_at(row[1]), row[2] or "", str(detail.get("reason", "")))


class ReadOnlyGuard:
    """The read-only state of one engine, re-read from the database at most every ``check_s`` seconds.

    Parameters
    ----------
    engine
        The engine whose writes are guarded.
    forced
        ``PERFECTMATCH_READ_ONLY``: on for this process regardless of the runtime switch.
    check_s
        How stale the runtime switch may be (0: re-read at the start of every transaction).
    monotonic
        The time source of the staleness check (injectable for tests).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        forced: bool = False,
        check_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.forced = forced
        self.check_s = check_s
        self._monotonic = monotonic
        self._state: ReadOnlyState = OFF
        self._read_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> ReadOnlyState:
        """The current state as last read (the setting wins over the switch)."""
        if self.forced:
            return ReadOnlyState(True, "setting")
        return self._state

    @property
    def on(self) -> bool:
        return self.state.on

    def invalidate(self) -> None:
        """Forget the last read, so the next transaction re-reads the switch."""
        self._read_at = None

    def _stale(self) -> bool:
        return self._read_at is None or self._monotonic() - self._read_at >= self.check_s

    def _refresh_on(self, dbapi_conn: Any, dialect: str) -> None:
        try:
            stored = _switch_on_dbapi(dbapi_conn, dialect)
        finally:
            dbapi_conn.rollback()  # end the implicit transaction of the read (PostgreSQL)
        with self._lock:
            self._state = stored or OFF
            self._read_at = self._monotonic()

    # ------------------------------------------------------------------ engine events
    def _on_begin(self, conn: Any) -> None:
        if conn.get_execution_options().get(BYPASS):
            desired = False
        else:
            if self._stale():
                self._refresh_on(conn.connection.dbapi_connection, conn.dialect.name)
            desired = self.on
        info = conn.connection.info
        if info.get(_NATIVE, False) != desired:
            _set_native(conn.connection.dbapi_connection, conn.dialect.name, desired)
            info[_NATIVE] = desired

    def _before_execute(
        self, conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        if self.on and not conn.get_execution_options().get(BYPASS) and is_write(statement):
            raise _refusal(self.state, describe_statement(statement))

    def _on_error(self, ctx: Any) -> None:
        orig = ctx.original_exception
        native = getattr(orig, "sqlstate", None) == "25006" or "readonly database" in str(orig)
        if native and self.on:
            raise _refusal(self.state, "write") from orig


def _set_native(dbapi_conn: Any, dialect: str, on: bool) -> None:
    """Make the database itself refuse writes on this connection (or allow them again)."""
    cur = dbapi_conn.cursor()
    try:
        if dialect == "postgresql":
            cur.execute(f"SET default_transaction_read_only = {'on' if on else 'off'}")
        elif dialect == "sqlite":
            cur.execute(f"PRAGMA query_only = {1 if on else 0}")
    finally:
        cur.close()
    if dialect == "postgresql":
        dbapi_conn.commit()  # the setting applies from the next transaction, i.e. the one beginning


def check_writable(conn: Any, what: str) -> None:
    """Raise ``ReadOnlyError`` before a write that bypasses statement events (a raw ``COPY``)."""
    guard = _GUARDS.get(conn.engine)
    if guard is not None and guard.on and not conn.get_execution_options().get(BYPASS):
        raise _refusal(guard.state, what)


_GUARDS: weakref.WeakKeyDictionary[Engine, ReadOnlyGuard] = weakref.WeakKeyDictionary()


def install(engine: Engine, *, forced: bool = False, check_s: float = 2.0) -> ReadOnlyGuard:
    """Guard ``engine`` (idempotent: a second call updates ``forced`` and ``check_s``) and return the guard."""
    guard = _GUARDS.get(engine)
    if guard is not None:
        guard.forced, guard.check_s = forced, check_s
        guard.invalidate()
        return guard
    guard = ReadOnlyGuard(engine, forced=forced, check_s=check_s)
    event.listen(engine, "begin", guard._on_begin)
    event.listen(engine, "before_cursor_execute", guard._before_execute)
    event.listen(engine, "handle_error", guard._on_error)
    _GUARDS[engine] = guard
    return guard


def guard_of(engine: Engine) -> ReadOnlyGuard | None:
    """The guard installed on ``engine``, if any."""
    return _GUARDS.get(engine)


def read_only_state(engine: Engine) -> ReadOnlyState:
    """The state now, read fresh from the database (and the guard's setting, when one is installed)."""
    guard = _GUARDS.get(engine)
    if guard is not None and guard.forced:
        return guard.state
    with engine.connect().execution_options(**{BYPASS: True}) as conn:
        stored = _switch_on_dbapi(conn.connection.dbapi_connection, engine.dialect.name)
        conn.connection.dbapi_connection.rollback()
    return stored or OFF


def set_read_only(engine: Engine, on: bool, *, at: datetime, actor: str = "", reason: str = "") -> ReadOnlyState:
    """Flip the durable runtime switch for every process using this database; returns the new state.

    The change is an audit-log row (``ops.read_only_on``/``off``, with actor and reason); processes
    see it within their ``check_s``, this one at once.
    """
    row = {
        "at": at,
        "kind": READ_ONLY_ON if on else READ_ONLY_OFF,
        "user_id": None,
        "actor": actor,
        "detail": {"reason": reason} if reason else {},
    }
    with engine.connect().execution_options(**{BYPASS: True}) as conn:
        conn.execute(insert(audit_log).values(**row))
        conn.commit()
    guard = _GUARDS.get(engine)
    if guard is not None:
        guard.invalidate()
    return read_only_state(engine)


class ReadOnlyAwareCache:
    """A ``ports.Cache`` that skips writes and deletes while ``guard`` is on (reads pass through)."""

    def __init__(self, inner: Any, guard: ReadOnlyGuard) -> None:
        self.inner = inner
        self.guard = guard

    def get(self, key: str) -> Any | None:
        return self.inner.get(key)

    def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        if not self.guard.on:
            self.inner.set(key, value, ttl_s=ttl_s)

    def delete(self, key: str) -> bool:
        return False if self.guard.on else bool(self.inner.delete(key))

    def clear(self) -> None:
        if not self.guard.on:
            self.inner.clear()

    def __getattr__(self, name: str) -> Any:  # close(), purge_expired() ... of the wrapped cache
        if name == "inner":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
