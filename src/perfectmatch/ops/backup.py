"""Consistent snapshots of the database and verified restores into an empty database.

A snapshot is a tar archive::

    manifest.json               format, schema revision, source dialect, and per table: file,
                                columns, row count and the sha256 of the file's bytes
    tables/<table>.jsonl.gz     one JSON array per row, columns in manifest order

Every table is read in ONE read transaction (REPEATABLE READ on PostgreSQL, a single deferred
transaction on SQLite, whose WAL keeps it a fixed snapshot), so the tables agree with each other.
The archive is written to a temporary file beside the target and renamed only when complete, so a
killed export never leaves a file under the requested name. Given a ``BlobStore``, the export also
holds the bytes of every photo the snapshot's ``photos`` rows name (``blobs/<key>``, checksummed in
the manifest; keys found missing are listed), and a restore puts them into the target's blob store.

``restore`` migrates the target, refuses it unless every table is empty and its schema revision is
the snapshot's, verifies every checksum and row count before writing anything, then loads every
table in one transaction: on any failure the target is left empty.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Date, Engine, LargeBinary, Table, func, insert, select, text

from perfectmatch.adapters.storage.schema import UTCDateTime, metadata
from perfectmatch.errors import InvalidInputError, PerfectMatchError, StorageError

FORMAT = "perfectmatch-snapshot/1"
MANIFEST = "manifest.json"
BATCH = 1000
CHUNK = 1 << 20
GZIP_LEVEL = 6  # gzip's default 9 compressed a 5,000-user snapshot 4x slower for a 4% smaller file
SPOOL_BYTES = 64 << 20  # table members above this size are staged on disk, not in memory


class SnapshotError(InvalidInputError):
    """A snapshot file is unreadable, incomplete or altered (it names the file and what is wrong)."""


class TargetNotEmptyError(StorageError):
    """``restore`` was pointed at a database that already holds rows or another schema revision."""


@dataclass
class SnapshotInfo:
    """What an export wrote or a restore loaded."""

    path: str
    schema_revision: str | None
    rows: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    blobs: int = 0  # photo blobs written or restored
    blobs_missing: list[str] = field(default_factory=list)  # photo rows whose bytes the blob store lacked


# ----- value encoding ------------------------------------------------------------------------

def _encoder(col: Any) -> Any:
    t = col.type
    if isinstance(t, LargeBinary):
        return lambda v: None if v is None else base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(t, UTCDateTime):
        return lambda v: None if v is None else v.astimezone(UTC).isoformat()
    if isinstance(t, Date):
        return lambda v: None if v is None else v.isoformat()
    return lambda v: v


def _decoder(col: Any) -> Any:
    t = col.type
    if isinstance(t, LargeBinary):
        return lambda v: None if v is None else base64.b64decode(v)
    if isinstance(t, UTCDateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if isinstance(t, Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    return lambda v: v


def _ordered(table: Table) -> Any:
    return select(table).order_by(*table.primary_key.columns)


# ----- export ----------------------------------------------------------------------------------

def _read_transaction(engine: Engine) -> Connection:
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        conn.begin()
        conn.execute(text("SELECT 1"))  # the snapshot is taken at the first statement
        return conn
    conn = engine.connect()
    conn.exec_driver_sql("BEGIN")  # pysqlite does not begin for SELECTs; WAL keeps this snapshot fixed
    conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
    return conn


def _table_member(conn: Connection, table: Table, spool: IO[bytes]) -> tuple[str, int]:
    """Write ``table`` as gzip JSON lines into ``spool``; returns (sha256 of the bytes, rows)."""
    enc = [_encoder(c) for c in table.columns]
    n = 0
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0, compresslevel=GZIP_LEVEL) as gz:
        for part in conn.execute(_ordered(table)).partitions(BATCH):
            lines = [dumps([f(v) for f, v in zip(enc, row, strict=True)]) for row in part]
            gz.write(("\n".join(lines) + "\n").encode("utf-8"))
            n += len(lines)
    spool.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: spool.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest(), n


def _add(tar: tarfile.TarFile, name: str, fileobj: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    info.mode = 0o600
    fileobj.seek(0)
    tar.addfile(info, fileobj)


def _blob_members(conn: Connection, tar: tarfile.TarFile, blobs: Any, info: SnapshotInfo) -> dict[str, Any]:
    """Add the bytes of every photo named in the snapshot's ``photos`` rows as ``blobs/<key>``."""
    from perfectmatch.adapters.storage.schema import photos
    from perfectmatch.errors import NotFound

    out: dict[str, Any] = {}
    for (key,) in conn.execute(select(photos.c.blob_key).order_by(photos.c.id)):
        try:
            data = blobs.get(key)
        except NotFound:
            info.blobs_missing.append(key)
            continue
        name = f"blobs/{key}"
        _add(tar, name, io.BytesIO(data), len(data))
        out[key] = {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    info.blobs = len(out)
    return out


def export_snapshot(engine: Engine, out: Path | str, *, blobs: Any = None) -> SnapshotInfo:
    """Write a consistent snapshot of every table to ``out`` (see the module docstring); with
    ``blobs`` (a ``ports.BlobStore``) the photos' bytes too.

    Raises
    ------
    StorageError
        The database schema is not at a known revision.
    """
    from perfectmatch.adapters.storage.engine import current_revision

    t0 = time.perf_counter()
    out = Path(out)
    revision = current_revision(engine)
    if revision is None:
        raise StorageError("the database has no schema (run `perfectmatch db upgrade`); nothing to export")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    info = SnapshotInfo(path=str(out), schema_revision=revision)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            conn = _read_transaction(engine)
            tables: dict[str, Any] = {}
            try:
                for table in metadata.sorted_tables:
                    name = f"tables/{table.name}.jsonl.gz"
                    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=out.parent) as spool:
                        sha, n = _table_member(conn, table, spool)
                        size = spool.seek(0, io.SEEK_END)
                        _add(tar, name, spool, size)
                    tables[table.name] = {"file": name, "rows": n, "sha256": sha,
                                          "columns": [c.name for c in table.columns]}
                    info.rows[table.name] = n
                blob_specs = _blob_members(conn, tar, blobs, info) if blobs is not None else None
            finally:
                conn.rollback()
                conn.close()
            manifest = {"format": FORMAT, "schema_revision": revision, "dialect": engine.dialect.name,
                        "created_at": datetime.now(UTC).isoformat(), "tables": tables}
            if blob_specs is not None:
                manifest["blobs"] = blob_specs
                manifest["blobs_missing"] = info.blobs_missing
            raw_manifest = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
            _add(tar, MANIFEST, io.BytesIO(raw_manifest), len(raw_manifest))
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    info.bytes = out.stat().st_size
    info.seconds = round(time.perf_counter() - t0, 3)
    return info


# ----- verify and restore --------------------------------------------------------------------

def verify_snapshot(path: Path | str) -> dict[str, Any]:
    """Verify a snapshot completely (manifest, every checksum, every row count) in bounded memory.

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    SnapshotError
        Unreadable or truncated archive, missing member, checksum or count mismatch, unknown format.
    """
    path = Path(path)
    with _open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        if MANIFEST not in members:
            raise SnapshotError(f"{path}: no {MANIFEST} (incomplete snapshot)")
        manifest = json.loads(_member(tar, members[MANIFEST]).read())
        if manifest.get("format") != FORMAT:
            raise SnapshotError(f"{path}: unknown format {manifest.get('format')!r} (expected {FORMAT})")
        for name, spec in manifest["tables"].items():
            member = members.get(spec["file"])
            if member is None:
                raise SnapshotError(f"{path}: member {spec['file']} is missing")
            digest, size = hashlib.sha256(), 0
            f = _member(tar, member)
            for chunk in iter(lambda f=f: f.read(CHUNK), b""):  # type: ignore[misc]
                digest.update(chunk)
                size += len(chunk)
            if size != member.size:
                raise SnapshotError(f"{path}: member {spec['file']} is truncated")
            if digest.hexdigest() != spec["sha256"]:
                raise SnapshotError(f"{path}: checksum mismatch for table {name} ({spec['file']})")
            lines = sum(1 for _ in gzip.GzipFile(fileobj=_member(tar, member)))
            if lines != spec["rows"]:
                raise SnapshotError(f"{path}: table {name} has {lines} rows, manifest says {spec['rows']}")
        for key, spec in manifest.get("blobs", {}).items():
            member = members.get(spec["file"])
            if member is None:
                raise SnapshotError(f"{path}: member {spec['file']} is missing")
            data = _member(tar, member).read()
            if len(data) != spec["size"] or hashlib.sha256(data).hexdigest() != spec["sha256"]:
                raise SnapshotError(f"{path}: checksum mismatch for blob {key}")
    return manifest


def read_snapshot(path: Path | str) -> tuple[dict[str, Any], dict[str, list[list[Any]]]]:
    """Verify a snapshot, then return its manifest and every table's rows (JSON arrays, file order).

    Meant for inspection and tests on small snapshots; ``restore_snapshot`` streams instead.
    """
    manifest = verify_snapshot(path)
    with _open(Path(path)) as tar:
        rows = {name: [json.loads(line) for line in gzip.GzipFile(fileobj=_member(tar, tar.getmember(spec["file"])))]
                for name, spec in manifest["tables"].items()}
    return manifest, rows


class _open:
    """``tarfile.open`` for reading that reports any archive or decoding error as ``SnapshotError``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> tarfile.TarFile:
        try:
            self.tar = tarfile.open(self.path, mode="r:")
        except (tarfile.TarError, OSError) as exc:
            raise SnapshotError(f"{self.path}: unreadable snapshot ({type(exc).__name__}: {exc})") from exc
        return self.tar

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.tar.close()
        if exc is not None and isinstance(exc, (tarfile.TarError, OSError, EOFError, json.JSONDecodeError,
                                                KeyError, UnicodeDecodeError, ValueError)) \
                and not isinstance(exc, PerfectMatchError):
            raise SnapshotError(f"{self.path}: unreadable snapshot ({type(exc).__name__}: {exc})") from exc


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    f = tar.extractfile(member)
    if f is None:
        raise SnapshotError(f"member {member.name} is not a file")
    return f


def _check_empty(conn: Connection) -> None:
    nonempty = [t.name for t in metadata.sorted_tables
                if conn.execute(select(func.count()).select_from(t)).scalar_one()]
    if nonempty:
        raise TargetNotEmptyError(f"restore needs an empty database; these tables hold rows: {', '.join(nonempty)}")


def _reset_sequences(conn: Connection) -> None:
    """Move each id sequence past the restored ids, so new rows do not collide with them."""
    for table in metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or pk[0].foreign_keys:
            continue
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name}).scalar()
        if seq is None:
            continue
        top = conn.execute(select(func.max(pk[0]))).scalar()
        conn.execute(text("SELECT setval(:s, :v, :called)"),
                     {"s": seq, "v": int(top) if top is not None else 1, "called": top is not None})


def restore_snapshot(path: Path | str, engine: Engine, *, blobs: Any = None) -> SnapshotInfo:
    """Load a verified snapshot into the EMPTY database behind ``engine`` (migrated here first); with
    ``blobs`` (a ``ports.BlobStore``) the snapshot's photo bytes go there (keys checked by the store).

    Raises
    ------
    SnapshotError
        The file fails verification (nothing is written).
    TargetNotEmptyError
        The target holds rows or is at another schema revision than the snapshot.
    """
    from perfectmatch.adapters.storage.engine import current_revision, upgrade

    t0 = time.perf_counter()
    manifest = verify_snapshot(path)  # nothing is written unless the whole file checks out
    upgrade(engine)
    target_rev = current_revision(engine)
    if target_rev != manifest["schema_revision"]:
        raise TargetNotEmptyError(f"snapshot is at schema revision {manifest['schema_revision']}, the target at "
                                  f"{target_rev}: restore with the matching perfectmatch version")
    known = {t.name: t for t in metadata.sorted_tables}
    unknown = sorted(set(manifest["tables"]) - set(known))
    if unknown:
        raise SnapshotError(f"{path}: tables unknown to this schema: {', '.join(unknown)}")
    info = SnapshotInfo(path=str(path), schema_revision=target_rev)
    with engine.begin() as conn, _open(Path(path)) as tar:
        _check_empty(conn)
        for table in metadata.sorted_tables:
            spec = manifest["tables"].get(table.name)
            if spec is None:
                continue
            cols = [table.c[name] for name in spec["columns"]]
            dec = [_decoder(c) for c in cols]
            batch: list[dict[str, Any]] = []
            for line in gzip.GzipFile(fileobj=_member(tar, tar.getmember(spec["file"]))):
                values = json.loads(line)
                batch.append({c.name: f(v) for c, f, v in zip(cols, dec, values, strict=True)})
                if len(batch) == BATCH:
                    conn.execute(insert(table), batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
            loaded = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if loaded != spec["rows"]:
                raise StorageError(f"table {table.name}: loaded {loaded} rows, snapshot has {spec['rows']}")
            info.rows[table.name] = int(loaded)
        if engine.dialect.name == "postgresql":
            _reset_sequences(conn)
        if blobs is not None:  # before the rows commit: a failure here leaves the target empty
            for key, spec in manifest.get("blobs", {}).items():
                blobs.put(key, _member(tar, tar.getmember(spec["file"])).read())
                info.blobs += 1
            info.blobs_missing = list(manifest.get("blobs_missing", []))
    info.seconds = round(time.perf_counter() - t0, 3)
    return info


def dump_tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, decoded to comparable Python values and sorted (for verification)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            enc = [_encoder(c) for c in table.columns]
            rows = [tuple(json.dumps(f(v), sort_keys=True) for f, v in zip(enc, row, strict=True))
                    for row in conn.execute(select(table))]
            out[table.name] = sorted(rows)
    return out
