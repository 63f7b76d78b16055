"""Bulk inserts that skip or replace rows whose key exists: COPY on PostgreSQL, executemany on SQLite.

Rows are plain tuples in ``columns`` order, already in the driver's types (on SQLite: dates and
datetimes as the text SQLAlchemy stores, JSON as text; see :func:`sqlite_datetime`), so no
per-row Core processing runs. On PostgreSQL the rows are first copied straight into the table
inside a savepoint (the common case: none of the keys exists yet); only when that meets a
duplicate key are they copied into a scratch table and merged with one ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection

CHUNK = 20_000


def dumps(value: Any) -> str:
    """JSON text of ``value`` (orjson: about 10x the standard library on insight-sized dicts; values
    it does not take, such as numpy scalars in a plain list, fall back to ``json.dumps``)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:
        return json.dumps(value)


def sqlite_datetime(value: datetime | None) -> str | None:
    """A timezone-aware datetime as the UTC text SQLAlchemy's ``DateTime`` keeps on SQLite."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class AsText:
    """Dates or aware datetimes as the text a database takes (ISO; SQLite's own layout for datetimes),
    converted once per distinct value: a batch's rows share a few, and the driver's conversion costs
    more per row than the rest of the row."""

    def __init__(self, sqlite_: bool) -> None:
        self._sqlite = sqlite_
        self._seen: dict[date | None, str | None] = {None: None}

    def __call__(self, value: date | None) -> str | None:
        text = self._seen.get(value, self)
        if text is self:
            text = self._seen[value] = self._convert(value)
        return text  # type: ignore[return-value]

    def _convert(self, value: date | None) -> str | None:
        if not isinstance(value, datetime):
            return None if value is None else value.isoformat()
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} given; use timezone-aware UTC")
        return sqlite_datetime(value) if self._sqlite else value.isoformat()


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]], *,
                key: Sequence[str], replace: bool) -> None:
    """Insert ``rows``; a row whose ``key`` exists is left as it is, or overwrites it if ``replace``."""
    if not rows:
        return
    others = [c for c in columns if c not in key]
    conflict = (f"ON CONFLICT ({', '.join(key)}) DO "
                + ("UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others) if replace else "NOTHING"))
    names = ", ".join(columns)
    if conn.dialect.name != "postgresql":
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['?'] * len(columns))}) {conflict}"
        for lo in range(0, len(rows), CHUNK):
            conn.exec_driver_sql(sql, rows[lo : lo + CHUNK])  # type: ignore[arg-type]
        return
    import psycopg

    from perfectmatch.adapters.storage.fkcheck import copy_checked
    from perfectmatch.adapters.storage.readonly import check_writable

    check_writable(conn, f"COPY on {table}")  # a raw COPY passes no statement event (the database refuses too)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    conn.exec_driver_sql("SAVEPOINT bulk_copy")
    try:
        copy_checked(conn, table, columns, lambda c: map(itemgetter(columns.index(c)), rows),
                     lambda: _copy(cursor, table, names, rows))
    except psycopg.errors.UniqueViolation:
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT bulk_copy")
    else:
        conn.exec_driver_sql("RELEASE SAVEPOINT bulk_copy")
        return
    stage = f"{table}_bulk_stage"
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS")
    _copy(cursor, stage, names, rows)
    # of a key given twice, the row one executemany would keep: the last if replacing, else the first
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({names}) SELECT DISTINCT ON ({', '.join(key)}) {names} FROM {stage} "
        f"ORDER BY {', '.join(key)}, ctid {'DESC' if replace else 'ASC'} {conflict}")
    conn.exec_driver_sql(f"TRUNCATE {stage}")


def _copy(cursor: object, table: str, names: str, rows: Sequence[tuple[object, ...]]) -> None:
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)
