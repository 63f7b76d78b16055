"""Bulk stores keep their foreign keys to users: a missing user is refused on both backends, and on
PostgreSQL the set-based check (``fkcheck``) locks the users it relies on until commit."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from perfectmatch.adapters.storage.fkcheck import user_key_columns
from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork
from perfectmatch.errors import StorageError
from perfectmatch.frame import MatchBatch, VectorSet
from perfectmatch.models import Notification, NotificationType, User

DAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def users(uow: SqlAlchemyUnitOfWork, n: int) -> list[int]:
    return [uow.users.add(User(created_at=NOW, last_active_at=NOW)).id for _ in range(n)]  # type: ignore[misc]


def matches(a: list[int], b: list[int]) -> MatchBatch:
    n = len(a)
    return MatchBatch(DAY, np.array(a), np.array(b), [0.9] * n, np.full(n, np.nan), [80.0] * n, ["vector"] * n,
                      [None] * n)


def note(user: int) -> Notification:
    return Notification(id=f"batch:{DAY}:{user}", user_id=user, type=NotificationType.NEW_MATCH, created_at=NOW)


def insight(a: int, b: int) -> dict[str, object]:
    return {"id": f"{DAY}:{a}:{b}", "user_a": a, "user_b": b, "day": DAY, "source": "fallback", "score": 50.0,
            "basic": "{}", "premium": "{}"}


def vectors(ids: list[int]) -> VectorSet:
    n = len(ids)
    return VectorSet("v1", np.array(ids), np.ones((n, 4), np.float32), np.ones((n, 5), np.float32),
                     np.ones(n, np.float32))


@pytest.mark.parametrize("store", ["matches", "insights", "notifications", "vectors", "vectors again"])
def test_bulk_stores_refuse_rows_of_missing_users(engine: Engine, store: str) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b = users(uow, 2)
        if store == "vectors again":  # the re-store path: the first user has a vector already
            uow.vector_matrix.save_matrix(vectors([a]))
        uow.commit()
    gone = b + 1000
    write = {
        "matches": lambda u: u.batch.add_matches(matches([a, a], [b, gone])),
        "insights": lambda u: u.batch.add_insights([insight(a, b), insight(a, gone)]),
        "notifications": lambda u: u.batch.add_notifications([note(a), note(gone)]),
        "vectors": lambda u: u.vector_matrix.save_matrix(vectors([a, gone])),
        "vectors again": lambda u: u.vector_matrix.save_matrix(vectors([a, gone])),
    }[store]
    with uow, pytest.raises(Exception, match=r"(?i)foreign key"):
        write(uow)
    with uow:
        assert uow.batch.matches_on(DAY) == [] and uow.batch.insights_on(DAY) == {}
        assert uow.batch.undelivered("batch:") == {}
        assert len(uow.vector_matrix.load_matrix("v1")) == (store == "vectors again")


postgres_only = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


@postgres_only
def test_checked_copy_locks_the_users_until_commit(engine: Engine) -> None:
    """While a bulk store's transaction is open, its users cannot be deleted (as with the server's
    per-row checks); once committed, deleting a user still cascades to its rows."""
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b, c = users(uow, 3)
        uow.commit()
    other = engine.connect()
    with uow:
        assert user_key_columns(uow.connection, "matches") == ["user_a", "user_b"]  # the set-based path runs
        uow.batch.add_matches(matches([a], [b]))
        uow.batch.add_notifications([note(b)])
        setting = "SELECT current_setting('session_replication_role')"
        assert uow.connection.exec_driver_sql(setting).scalar_one() == "origin"  # triggers back on
        other.exec_driver_sql("SET lock_timeout = '200ms'")
        other.commit()
        for user in (a, b):
            with pytest.raises(Exception, match="lock timeout"), other.begin():
                other.exec_driver_sql(f"DELETE FROM users WHERE id = {user}")
        with other.begin():
            other.exec_driver_sql(f"DELETE FROM users WHERE id = {c}")  # not referenced: not locked
        uow.commit()
    with other.begin():
        other.exec_driver_sql(f"DELETE FROM users WHERE id = {b}")
    other.close()
    with uow:
        assert uow.batch.matches_on(DAY) == [] and uow.batch.undelivered("batch:") == {}


@postgres_only
def test_set_based_check_only_where_it_stands_in_for_every_trigger(engine: Engine) -> None:
    """Tables with a user trigger, or a key to another table, keep the server's per-row checks (tables
    made in a transaction rolled back)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (u bigint REFERENCES users(id), v bigint REFERENCES users(id))")
        assert user_key_columns(conn, "t") == ["u", "v"]
        conn.exec_driver_sql("CREATE TABLE plain (x int)")
        assert user_key_columns(conn, "plain") == []
        conn.exec_driver_sql("CREATE TABLE other (c bigint REFERENCES conversations(id))")
        assert user_key_columns(conn, "other") is None
        conn.exec_driver_sql("CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS "
                             "'BEGIN RETURN NEW; END'")
        conn.exec_driver_sql("CREATE TRIGGER keep BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION pg_temp.noop()")
        assert user_key_columns(conn, "t") is None
        conn.rollback()


@postgres_only
def test_a_role_without_the_grant_keeps_the_servers_checks(engine: Engine) -> None:
    """A role that may not set ``session_replication_role`` stores through the per-row checks (a role
    made in a transaction rolled back)."""
    from perfectmatch.adapters.storage.batch import SqlBatchStore

    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b = users(uow, 2)
        uow.commit()
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE ROLE pm_test_plain")
        conn.exec_driver_sql("GRANT SELECT, INSERT ON matches, users TO pm_test_plain")
        conn.exec_driver_sql("SET LOCAL ROLE pm_test_plain")
        assert user_key_columns(conn, "matches") is None
        SqlBatchStore(conn).add_matches(matches([a], [b]))
        assert conn.exec_driver_sql("SELECT count(*) FROM matches").scalar_one() == 1
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            SqlBatchStore(conn).add_matches(matches([a], [b + 1000]))
        conn.rollback()


def test_bulk_inserts_check_their_users_once_and_commit(engine: Engine) -> None:
    """A ``bulk_inserts`` block stores and commits its rows; afterwards (on SQLite, where the block
    switches the per-row checks off) every write is checked again."""
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b = users(uow, 2)
        uow.commit()
    with uow, uow.bulk_inserts(np.array([a, b, a])):
        uow.batch.add_insights([insight(a, b)])
        uow.batch.add_matches(matches([a], [b]))
    with uow:
        assert [(m.user_a, m.user_b) for m in uow.batch.matches_on(DAY)] == [(a, b)]
        assert list(uow.batch.insights_on(DAY)) == [f"{DAY}:{a}:{b}"]
        if engine.dialect.name == "sqlite":
            assert uow.connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            uow.batch.add_notifications([note(b + 1000)])


def test_bulk_inserts_refuse_users_that_do_not_exist(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b = users(uow, 2)
        uow.commit()
    gone = b + 1000
    if engine.dialect.name == "sqlite":  # the set check refuses the block before any row is written
        with uow, pytest.raises(StorageError, match=str(gone)), uow.bulk_inserts(np.array([a, gone])):
            pytest.fail("the block must not run")
    else:  # PostgreSQL: COPY's own set-based check (fkcheck) refuses the rows
        with uow, pytest.raises(Exception, match=r"(?i)foreign key"), uow.bulk_inserts(np.array([a, gone])):
            uow.batch.add_matches(matches([a], [gone]))
    with uow, pytest.raises(RuntimeError), uow.bulk_inserts(np.array([a, b])):  # an error rolls back
        uow.batch.add_matches(matches([a], [b]))
        raise RuntimeError("crash inside the block")
    with uow:
        assert uow.batch.matches_on(DAY) == []
        if engine.dialect.name == "sqlite":
            assert uow.connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite_only
def test_bulk_inserts_hold_the_write_lock_from_their_check_to_the_commit(engine: Engine) -> None:
    """On SQLite the users are checked under the write lock: none can be deleted before the commit.
    Inside a transaction SQLite has already begun, the block keeps the per-row checks."""
    import sqlite3

    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b = users(uow, 2)
        uow.commit()
    other = sqlite3.connect(engine.url.database, timeout=0.1)
    with uow, uow.bulk_inserts(np.array([a, b])):
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute(f"DELETE FROM users WHERE id = {a}")
        uow.batch.add_matches(matches([a], [b]))
    other.close()
    with uow:
        uow.batch.add_insights([insight(a, b)])  # the transaction has begun: the switch would not apply
        with pytest.raises(Exception, match=r"(?i)foreign key"), uow.bulk_inserts(np.array([a])):
            uow.batch.add_notifications([note(b + 1000)])


@sqlite_only
def test_bulk_inserts_refuse_a_missing_user_inside_a_gapped_range(engine: Engine) -> None:
    """The one-count fast path holds only for a range without gaps; a gap not asked for is fine."""
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b, c = users(uow, 3)
        uow.connection.exec_driver_sql(f"DELETE FROM users WHERE id = {b}")
        uow.commit()
    with uow, uow.bulk_inserts(np.array([c, a])):
        uow.batch.add_matches(matches([a], [c]))
    with uow, pytest.raises(StorageError, match=rf"\[{b}\]"), uow.bulk_inserts(np.array([a, b, c])):
        pytest.fail("the block must not run")


@given(st.sets(st.integers(1, 40), min_size=1), st.sets(st.integers(1, 45), min_size=1))
def test_the_user_check_refuses_exactly_the_missing_ids(existing: set[int], wanted: set[int]) -> None:
    import sqlite3

    from perfectmatch.adapters.storage.uow import _check_users_exist

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    db.executemany("INSERT INTO users VALUES (?)", [(i,) for i in existing])
    missing = sorted(wanted - existing)
    if missing:
        with pytest.raises(StorageError, match=re.escape(str(missing[:10]))):
            _check_users_exist(db, np.array(sorted(wanted)))
    else:
        _check_users_exist(db, np.array(sorted(wanted)))
