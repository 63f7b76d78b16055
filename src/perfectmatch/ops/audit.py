"""The audit log of security events: one append-only row per event in the ``audit_log`` table.

Callers record suspensions, reinstatements, data exports and erasures here, and the same function
serves logins, failed logins and webhook-signature failures. ``audit`` writes on a SQLAlchemy
``Connection`` (inside the caller's transaction, so the event commits or rolls back with the change
it records) or, given an ``App``, in a transaction of its own stamped with the app's clock. The
``detail`` is JSON and must not carry personal data (no emails, names or answer texts): the audit
log outlives an erasure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from perfectmatch.adapters.storage.schema import audit_log

SUSPENDED = "user.suspended"
REINSTATED = "user.reinstated"
EXPORTED = "user.exported"
ERASED = "user.erased"
LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
WEBHOOK_SIGNATURE_FAILED = "webhook.signature_failed"


def audit(app_or_conn: Any, kind: str, user_id: int | None, detail: dict[str, Any] | None = None, *,
          actor: str = "", at: datetime | None = None) -> None:
    """Append one security event to the audit log.

    Parameters
    ----------
    app_or_conn
        A SQLAlchemy ``Connection`` (the event joins its transaction) or an ``App`` (the event is
        committed on its own, timestamped by ``app.clock``).
    kind
        What happened, e.g. ``"user.suspended"`` (the constants of this module).
    user_id
        The user concerned, or ``None`` (e.g. a failed login for an unknown account).
    detail
        JSON-serializable context without personal data.
    actor
        Who did it (an operator name, ``"cli"``, ``"webhook"`` ...).
    at
        When; defaults to the app's clock, or the wall clock for a bare connection.
    """
    row = {"kind": kind, "user_id": user_id, "actor": actor, "detail": dict(detail or {})}
    if isinstance(app_or_conn, Connection):
        app_or_conn.execute(insert(audit_log).values(at=at or datetime.now(UTC), **row))
        return
    with app_or_conn.engine.begin() as conn:
        conn.execute(insert(audit_log).values(at=at or app_or_conn.clock.now(), **row))


def audit_events(app_or_conn: Any, *, user_id: int | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """The recorded events, oldest first, optionally only those of one user and/or one kind."""
    query = select(audit_log).order_by(audit_log.c.id)
    if user_id is not None:
        query = query.where(audit_log.c.user_id == user_id)
    if kind is not None:
        query = query.where(audit_log.c.kind == kind)
    if isinstance(app_or_conn, Connection):
        return [dict(r._mapping) for r in app_or_conn.execute(query)]
    with app_or_conn.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
