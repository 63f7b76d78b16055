"""Blob stores (``ports.BlobStore``): ``LocalBlobStore`` on the filesystem (default), ``MemoryBlobStore``.

Both accept only keys that ``check_key`` allows, so no key can name a path outside the store.
"""

from __future__ import annotations

from perfectmatch.adapters.blobs.keys import check_key
from perfectmatch.adapters.blobs.local import LocalBlobStore
from perfectmatch.adapters.blobs.memory import MemoryBlobStore

__all__ = ["LocalBlobStore", "MemoryBlobStore", "check_key"]
