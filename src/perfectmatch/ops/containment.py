"""Incident containment: suspend a user at once, or reinstate them; both are audited.

A suspended user (``UserStatus.SUSPENDED``) is left out of the next batch (it loads only active
users), and discovery and messaging refuse them (they check ``status == active`` on every call).
Their ``recent_matches:<id>`` cache entry is dropped so no cached list outlives the suspension.
An erased (``deleted``) user can be neither suspended nor reinstated.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from perfectmatch.adapters.storage.schema import users
from perfectmatch.errors import InvalidInputError, NotFound
from perfectmatch.models import UserStatus
from perfectmatch.ops.audit import REINSTATED, SUSPENDED, audit


def user_status(conn: Connection, user_id: int) -> UserStatus:
    """The stored status of ``user_id``; raises ``NotFound`` for an unknown id."""
    status = conn.execute(select(users.c.status).where(users.c.id == user_id)).scalar_one_or_none()
    if status is None:
        raise NotFound(f"user {user_id} not found")
    return UserStatus(status)


def _set_status(app: Any, user_id: int, to: UserStatus, kind: str, reason: str, actor: str) -> dict[str, Any]:
    with app.engine.begin() as conn:
        before = user_status(conn, user_id)
        if before is UserStatus.DELETED:
            raise InvalidInputError(f"user {user_id} is deleted (erased); its status cannot change")
        if before is not to:
            conn.execute(update(users).where(users.c.id == user_id).values(status=to.value))
            audit(conn, kind, user_id, {"reason": reason, "from": before.value}, actor=actor, at=app.clock.now())
    if app.cache is not None:
        app.cache.delete(f"recent_matches:{user_id}")
    return {"user_id": user_id, "status": to.value, "previous": before.value, "changed": before is not to}


def suspend_user(app: Any, user_id: int, *, reason: str = "", actor: str = "") -> dict[str, Any]:
    """Suspend ``user_id`` (idempotent: suspending a suspended user changes and audits nothing).

    Returns
    -------
    dict
        ``user_id``, ``status``, ``previous`` and ``changed``.

    Raises
    ------
    NotFound
        Unknown user.
    InvalidInputError
        The user was erased.
    """
    return _set_status(app, user_id, UserStatus.SUSPENDED, SUSPENDED, reason, actor)


def reinstate_user(app: Any, user_id: int, *, reason: str = "", actor: str = "") -> dict[str, Any]:
    """Make a suspended ``user_id`` active again (idempotent); same result and errors as ``suspend_user``."""
    return _set_status(app, user_id, UserStatus.ACTIVE, REINSTATED, reason, actor)
