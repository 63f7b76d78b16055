"""``MemoryBlobStore``: blobs in a dict, for tests and examples (same key rules as the real store)."""

from __future__ import annotations

from perfectmatch.adapters.blobs.keys import check_key
from perfectmatch.errors import NotFound


class MemoryBlobStore:
    """``ports.BlobStore`` in memory; ``blobs`` is the recorded state tests assert on."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.blobs[check_key(key)] = bytes(data)

    def get(self, key: str) -> bytes:
        try:
            return self.blobs[check_key(key)]
        except KeyError:
            raise NotFound(f"blob {key!r} not found") from None

    def delete(self, key: str) -> bool:
        return self.blobs.pop(check_key(key), None) is not None

    def exists(self, key: str) -> bool:
        return check_key(key) in self.blobs
