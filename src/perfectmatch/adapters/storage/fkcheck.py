"""One set-based foreign-key check for a bulk COPY on PostgreSQL, instead of one trigger query per row.

PostgreSQL checks each foreign key of each inserted row with its own trigger query (about 6 us
here: two thirds of a 100,000-row match store). When the session may set
``session_replication_role`` (a superuser, or on PostgreSQL 15+ a role granted
``SET ON PARAMETER session_replication_role``) and the table's only triggers are single-column
foreign keys to ``users(id)``, :func:`copy_checked` instead locks every referenced user
``FOR KEY SHARE`` in one statement (what each trigger query does for its row: a concurrent delete
of that user waits for this transaction's end), checks that all exist, and runs the COPY with
triggers off. The constraints stay declared: deleting a user still cascades, and every other
write is checked by the server. A missing user, or a session or table that does not qualify,
runs the COPY with its triggers, so the server raises the foreign-key violation as ever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from sqlalchemy import Connection

# the table's foreign keys if each is one column referencing users(id) and nothing else (other
# triggers, rules) would be switched off with them; no rows when the session may not switch
_KEYS = """
SELECT c.contype, a.attname, c.confrelid = 'users'::regclass AND af.attname = 'id'
       AND array_length(c.conkey, 1) = 1, t.relhasrules
FROM pg_class t
LEFT JOIN pg_constraint c ON c.conrelid = t.oid AND c.contype = 'f'
LEFT JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
LEFT JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
WHERE t.oid = %(table)s::regclass AND {allowed}
  AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = t.oid AND NOT g.tgisinternal)
"""
_ALLOWED_15 = "has_parameter_privilege('session_replication_role', 'SET')"
_ALLOWED_OLD = "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"


def user_key_columns(conn: Connection, table: str) -> list[str] | None:
    """Columns of ``table`` holding foreign keys to ``users(id)``, or ``None`` when :func:`copy_checked`
    cannot stand in for the triggers (no privilege, rules, user triggers, a key to another table)."""
    allowed = _ALLOWED_15 if (conn.dialect.server_version_info or (0,)) >= (15,) else _ALLOWED_OLD
    rows = conn.exec_driver_sql(_KEYS.format(allowed=allowed), {"table": table}).all()
    if not rows or rows[0][3] or any(kind is not None and not to_users for kind, _, to_users, _ in rows):
        return None
    return [column for kind, column, _, _ in rows if kind is not None]


def lock_users(conn: Connection, ids: np.ndarray) -> bool:
    """Lock the users ``ids`` ``FOR KEY SHARE`` until the transaction ends; whether all of them exist."""
    unique = np.unique(np.asarray(ids, dtype=np.int64))
    if not unique.size:
        return True
    literal = "{" + ",".join(map(str, unique.tolist())) + "}"  # one text parameter: quicker than a list's
    locked = conn.exec_driver_sql(
        "SELECT count(*) FROM (SELECT 1 FROM users WHERE id = ANY(%(ids)s::bigint[]) FOR KEY SHARE) AS locked",
        {"ids": literal}).scalar_one()
    return int(locked) == unique.size


def copy_checked(conn: Connection, table: str, copied: Sequence[str], values: Callable[[str], Iterable[int | None]],
                 copy: Callable[[], None]) -> None:
    """Run ``copy``, a COPY of columns ``copied`` into ``table``, with one set-based check of its user
    keys where allowed (``values(column)``: the copied rows' values of a key column).

    When ``copy`` fails, roll back (to a savepoint, if the transaction goes on): that also undoes the
    switch of ``session_replication_role``.
    """
    keys = user_key_columns(conn, table)
    if not keys or not set(keys) <= set(copied):  # not allowed, no keys (nothing to save), or a key defaulted
        copy()
        return
    ids = np.fromiter((v for k in keys for v in values(k) if v is not None), dtype=np.int64)  # NULL: no check
    if not lock_users(conn, ids):
        copy()  # the server's own checks name the missing user
        return
    previous = conn.exec_driver_sql("SELECT current_setting('session_replication_role')").scalar_one()
    conn.exec_driver_sql("SELECT set_config('session_replication_role', 'replica', true)")
    copy()
    conn.exec_driver_sql("SELECT set_config('session_replication_role', %(v)s, true)", {"v": previous})
