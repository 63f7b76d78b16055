"""PostgreSQL binary COPY of fixed-width rows, built and parsed with numpy (no Python work per row).

A binary COPY row is an int16 field count, then per field an int32 byte length and the value in
network order. When every field has a fixed width (integers, floats, a constant string, a
``bytea`` of fixed size) the rows are one numpy structured array, written or read in one piece:
the vector store's path, where per-row tuples cost more than the server's own work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from perfectmatch.errors import StorageError

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # no flags, no header extension
TRAILER = b"\xff\xff"


def row_dtype(fields: Sequence[np.dtype[Any]]) -> np.dtype[Any]:
    """The structured dtype of one row with ``fields`` (each one's on-the-wire type, e.g. ``>i8``)."""
    spec: list[tuple[str, Any]] = [("count", ">i2")]
    for k, dt in enumerate(fields):
        spec += [(f"len{k}", ">i4"), (f"f{k}", dt)]
    return np.dtype(spec)


def encode(columns: Sequence[tuple[np.dtype[Any], Any]], n: int) -> np.ndarray:
    """``n`` rows of ``(dtype, values)`` columns (values broadcast to ``(n, ...)``), ready to write."""
    rows = np.empty(n, row_dtype([np.dtype(dt) for dt, _ in columns]))
    rows["count"] = len(columns)
    for k, (dt, values) in enumerate(columns):
        rows[f"len{k}"] = np.dtype(dt).itemsize
        rows[f"f{k}"] = values
    return rows


def decode(data: bytes | bytearray | memoryview, fields: Sequence[np.dtype[Any]]) -> np.ndarray:
    """The rows of a whole binary COPY output (header to trailer) whose fields are ``fields``.

    Raises ``StorageError`` when the stream is not made of such rows (a NULL, another width).
    """
    view = memoryview(data)
    if bytes(view[: len(SIGNATURE)]) != SIGNATURE or bytes(view[-2:]) != TRAILER:
        raise StorageError("not a PostgreSQL binary COPY stream")
    extension = int.from_bytes(view[15:19], "big")
    body = view[19 + extension : -2]
    dtype = row_dtype([np.dtype(dt) for dt in fields])
    if len(body) % dtype.itemsize:
        raise StorageError(f"COPY rows are not {dtype.itemsize} bytes wide")
    rows = np.frombuffer(body, dtype=dtype)
    ok = rows["count"] == len(fields)
    for k, dt in enumerate(fields):
        ok &= rows[f"len{k}"] == np.dtype(dt).itemsize
    if not ok.all():
        raise StorageError("COPY rows have another shape than expected (a NULL or a different width)")
    return rows


def first_lengths(data: bytes | bytearray | memoryview, count: int) -> list[int]:
    """Byte lengths of the first row's first ``count`` fields (to learn a variable width, such as
    the vector dimension, before :func:`decode`); ``[]`` when the stream has no rows."""
    view = memoryview(data)
    at = 19 + int.from_bytes(view[15:19], "big")
    if int.from_bytes(view[at : at + 2], "big", signed=True) == -1:
        return []
    at += 2
    out = []
    for _ in range(count):
        size = int.from_bytes(view[at : at + 4], "big", signed=True)
        out.append(size)
        at += 4 + max(size, 0)
    return out
