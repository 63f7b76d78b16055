"""``SqlAlchemyUnitOfWork``: one transaction over every repository (``ports.UnitOfWork``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import numpy as np
from sqlalchemy import Connection, Engine

from perfectmatch.adapters.storage import mappings as m
from perfectmatch.adapters.storage.batch import SqlBatchStore
from perfectmatch.adapters.storage.population import SqlPopulationRepository, SqlVectorMatrix
from perfectmatch.adapters.storage.repositories import TableRepository
from perfectmatch.errors import StorageError
from perfectmatch.models import Member, UserId


class SqlUserRepository(TableRepository):
    def ids_by_source(self, source: str) -> dict[str, UserId]:
        from sqlalchemy import select

        t = self.table
        rows = self._conn.execute(select(t.c.source_id, t.c.id).where(t.c.source == source))
        return {sid: int(uid) for sid, uid in rows}


def _check_users_exist(dbapi: object, wanted: np.ndarray) -> None:
    """Raise ``StorageError`` naming users of ``wanted`` (sorted, distinct, not empty) that do not exist.

    User ids are dense: when every id of ``wanted``'s range exists (one count), so does every
    wanted one; otherwise the range's ids are read (as plain tuples: Row objects cost 2 s at 1M).
    """
    lo, hi = int(wanted[0]), int(wanted[-1])
    (count,) = dbapi.execute("SELECT COUNT(*) FROM users WHERE id BETWEEN ? AND ?", (lo, hi)).fetchone()  # type: ignore[attr-defined]
    if count == hi - lo + 1:
        return
    found = dbapi.execute("SELECT id FROM users WHERE id BETWEEN ? AND ?", (lo, hi)).fetchall()  # type: ignore[attr-defined]
    missing = np.setdiff1d(wanted, np.array(found, dtype=np.int64).reshape(-1), assume_unique=True)
    if missing.size:
        raise StorageError(f"cannot store rows for users that do not exist: {missing[:10].tolist()}")


class SqlAlchemyUnitOfWork:
    """Rolls back on exit unless ``commit()`` was called; usable again after commit or exit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise StorageError("unit of work is already open (nested use is not supported)")
        conn = self.engine.connect()
        conn.begin()
        self._conn = conn
        self.users = SqlUserRepository(conn, m.USERS)
        self.profiles = TableRepository(conn, m.PROFILES)
        self.preferences = TableRepository(conn, m.PREFERENCES)
        self.responses = TableRepository(conn, m.RESPONSES)
        self.vectors = TableRepository(conn, m.VECTORS)
        self.vector_matrix = SqlVectorMatrix(conn)
        self.matches = TableRepository(conn, m.MATCHES)
        self.likes = TableRepository(conn, m.LIKES)
        self.blocks = TableRepository(conn, m.BLOCKS)
        self.conversations = TableRepository(conn, m.CONVERSATIONS)
        self.messages = TableRepository(conn, m.MESSAGES)
        self.subscriptions = TableRepository(conn, m.SUBSCRIPTIONS)
        self.notifications = TableRepository(conn, m.NOTIFICATIONS)
        self.notification_prefs = TableRepository(conn, m.NOTIFICATION_PREFS)
        self.population = SqlPopulationRepository(conn)
        self.batch = SqlBatchStore(conn)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()

    @property
    def connection(self) -> Connection:
        """The open connection, for adapters that add their own set-based queries."""
        if self._conn is None:
            raise StorageError("unit of work is not open: use it in a `with` block")
        return self._conn

    def commit(self) -> None:
        conn = self.connection
        conn.commit()
        conn.begin()

    def rollback(self) -> None:
        conn = self.connection
        conn.rollback()
        conn.begin()

    @contextmanager
    def bulk_inserts(self, user_ids: np.ndarray) -> Iterator[None]:
        """A block of bulk inserts whose rows reference no user outside ``user_ids``, committed at its
        end (rolled back on an error).

        SQLite checks a foreign key with one lookup per row and key: two user lookups per match or
        insight, half the time of a million-user batch's store (2 M matches with their insights,
        34 -> 18 s). Here the transaction starts with the write lock taken (no user can be deleted
        until the commit), ``user_ids`` are checked once as a set, and the per-row checks are off
        until the block ends. On PostgreSQL, and inside a transaction SQLite has already begun (where
        the switch would not apply), the block is a plain transaction: COPY checks its keys as a set
        already (``fkcheck.copy_checked``).

        Raises
        ------
        StorageError
            A user in ``user_ids`` does not exist (nothing is inserted).
        """
        conn = self.connection
        dbapi = conn.connection.dbapi_connection
        if conn.dialect.name != "sqlite" or dbapi.in_transaction:  # type: ignore[union-attr]
            yield
            self.commit()
            return
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            wanted = np.unique(np.asarray(user_ids, dtype=np.int64))
            if wanted.size:
                _check_users_exist(dbapi, wanted)
            yield
            self.commit()
        finally:
            if dbapi.in_transaction:  # type: ignore[union-attr]
                self.rollback()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            if conn.exec_driver_sql("PRAGMA foreign_keys").scalar() != 1:  # pragma: no cover - defensive
                conn.invalidate()  # never hand a connection without key checks back to the pool

    def member(self, user_id: UserId) -> Member:
        return Member(
            user=self.users.get(user_id),
            profile=self.profiles.get(user_id),
            preferences=self.preferences.get(user_id),
            response=self.responses.find(user_id),
        )
