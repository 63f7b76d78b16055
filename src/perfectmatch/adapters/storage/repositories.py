"""Generic table-backed repositories: one ``TableRepository`` per aggregate, driven by a ``Mapping``.

A mapping says which table holds the aggregate, which columns form its key and how a model
becomes a row and back. Writes are upserts (``INSERT ... ON CONFLICT DO UPDATE``) on both SQLite
and PostgreSQL, so re-saving an aggregate replaces it; ``add_many`` writes in one executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, Table, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from perfectmatch.errors import NotFound

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Mapping(Generic[M]):
    """How aggregate ``model`` is stored in ``table``."""

    table: Table
    model: type[M]
    key: tuple[str, ...]
    to_row: Callable[[M], dict[str, Any]]
    from_row: Callable[[Any], M]
    generated_id: bool = False  # key is a single autoincrement "id" column

    def key_of(self, item: M) -> tuple[Any, ...]:
        return tuple(getattr(item, k) for k in self.key)


def _dialect_insert(conn: Connection, table: Table) -> Any:
    ins = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(conn.dialect.name)
    if ins is None:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"upsert on {conn.dialect.name}")
    return ins(table)


def insert_ignore(conn: Connection, table: Table, key: Sequence[str]) -> Any:
    """An INSERT that leaves an existing row with the same key untouched."""
    return _dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key))


def upsert(conn: Connection, table: Table, key: Sequence[str]) -> Any:
    """An INSERT that replaces the non-key columns of an existing row with the same key."""
    stmt = _dialect_insert(conn, table)
    others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in key}
    return stmt.on_conflict_do_update(index_elements=list(key), set_=others) if others else (
        stmt.on_conflict_do_nothing(index_elements=list(key))
    )


class TableRepository(Generic[M]):
    """Store and fetch one aggregate type in one table (see ``ports.Repository``)."""

    def __init__(self, conn: Connection, mapping: Mapping[M]) -> None:
        self._conn = conn
        self.mapping = mapping
        self.table = mapping.table

    def _key_clause(self, key: Any) -> Any:
        keys = key if isinstance(key, tuple) else (key,)
        if len(keys) != len(self.mapping.key):
            raise TypeError(f"{self.table.name} key has {len(self.mapping.key)} part(s), got {key!r}")
        clause = None
        for name, value in zip(self.mapping.key, keys, strict=True):
            term = self.table.c[name] == value
            clause = term if clause is None else clause & term
        return clause

    def add(self, item: M) -> M:
        row = self.mapping.to_row(item)
        if self.mapping.generated_id and row.get("id") is None:
            row.pop("id", None)
            new_id = self._conn.execute(insert(self.table).values(row).returning(self.table.c.id)).scalar_one()
            return item.model_copy(update={"id": int(new_id)})
        self._conn.execute(upsert(self._conn, self.table, self.mapping.key), [row])
        return item

    def add_many(self, items: Iterable[M]) -> int:
        rows = [self.mapping.to_row(i) for i in items]
        if not rows:
            return 0
        if self.mapping.generated_id:
            new = [{k: v for k, v in r.items() if k != "id"} for r in rows if r.get("id") is None]
            old = [r for r in rows if r.get("id") is not None]
            if new:
                self._conn.execute(insert(self.table), new)
            if old:
                self._conn.execute(upsert(self._conn, self.table, self.mapping.key), old)
        else:
            self._conn.execute(upsert(self._conn, self.table, self.mapping.key), rows)
        return len(rows)

    def find(self, key: Any) -> M | None:
        row = self._conn.execute(select(self.table).where(self._key_clause(key))).mappings().first()
        return None if row is None else self.mapping.from_row(row)

    def get(self, key: Any) -> M:
        item = self.find(key)
        if item is None:
            raise NotFound(f"{self.mapping.model.__name__} {key!r} not found")
        return item

    def find_many(self, keys: Sequence[Any]) -> list[M]:
        """The aggregates whose keys are in ``keys`` (missing ones are simply absent)."""
        if not keys:
            return []
        if len(self.mapping.key) == 1:
            cond = self.table.c[self.mapping.key[0]].in_(list(keys))
        else:
            cond = tuple_(*(self.table.c[k] for k in self.mapping.key)).in_(list(keys))
        return [self.mapping.from_row(r) for r in self._conn.execute(select(self.table).where(cond)).mappings()]

    def where(self, **equals: Any) -> list[M]:
        """Every aggregate whose columns equal the given values."""
        stmt = select(self.table)
        for col, value in equals.items():
            stmt = stmt.where(self.table.c[col] == value)
        return [self.mapping.from_row(r) for r in self._conn.execute(stmt).mappings()]

    def delete(self, key: Any) -> bool:
        return bool(self._conn.execute(self.table.delete().where(self._key_clause(key))).rowcount)

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(self.table)).scalar_one())
