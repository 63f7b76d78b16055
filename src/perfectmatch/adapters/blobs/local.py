"""``LocalBlobStore``: blobs as files under one root directory (owner-only), written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from perfectmatch.adapters.blobs.keys import check_key
from perfectmatch.errors import ConfigError, InvalidInputError, NotFound


class LocalBlobStore:
    """``ports.BlobStore`` on the local filesystem: key ``a/b.jpg`` is the file ``<root>/a/b.jpg``.

    Writes go to a temporary file in the target directory, are fsynced and renamed over the target,
    so a crash leaves the old blob or the new one, never a torn file. Keys are checked with
    ``check_key`` and the resolved path must stay under ``root`` (symlinks included).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()  # created (owner-only) by the first put, not before

    def _make_root(self) -> None:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create blob directory {self.root}: {exc}") from exc

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # a symlink inside the store pointing out of it
            raise InvalidInputError(f"blob key {key!r} resolves outside the blob directory {self.root}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._make_root()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".part-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {key!r} not found") from None

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()
