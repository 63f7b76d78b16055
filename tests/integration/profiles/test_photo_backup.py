"""Backups carry photo bytes: export from SQLite or PostgreSQL with the blob store, restore into an
empty database and an empty blob directory, and every photo reads back; altered bytes are refused."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sample_images as si
from perfectmatch.adapters.blobs import LocalBlobStore
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.storage.engine import make_engine
from perfectmatch.bootstrap import App, build_app
from perfectmatch.cli import app as cli_app
from perfectmatch.config import Settings
from perfectmatch.models import User
from perfectmatch.ops.backup import SnapshotError, export_snapshot, restore_snapshot
from perfectmatch.profiles import add_photo, list_photos, photo_bytes

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def build(db_url: str, blobs: Path) -> App:
    settings = Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}, photos={"blob_dir": blobs})
    return build_app(settings, clock=FakeClock(NOW))


def new_user(app: App) -> int:
    with app.uow as uow:
        uid = uow.users.add(User(created_at=NOW, last_active_at=NOW)).id
        uow.commit()
    assert uid is not None
    return uid


def test_snapshot_round_trip_with_photo_bytes(db_url: str, tmp_path: Path) -> None:
    app = build(db_url, tmp_path / "blobs")
    uid = new_user(app)
    photos = [add_photo(app, uid, si.face_variant(i)) for i in range(2)]
    originals = {p.id: photo_bytes(app, uid, p.id)[1] for p in photos}
    lost = add_photo(app, uid, si.face_png())
    app.blob_store.delete(lost.blob_key)  # a blob lost on disk: reported, not fatal
    info = export_snapshot(app.engine, tmp_path / "a.snap", blobs=app.blob_store)
    assert info.blobs == 2 and info.blobs_missing == [lost.blob_key]
    app.close()

    target = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    restored_blobs = LocalBlobStore(tmp_path / "restored-blobs")
    info = restore_snapshot(tmp_path / "a.snap", target, blobs=restored_blobs)
    assert info.blobs == 2 and info.blobs_missing == [lost.blob_key]
    target.dispose()
    back = build(f"sqlite:///{tmp_path / 'restored.db'}", tmp_path / "restored-blobs")
    assert [p.id for p in list_photos(back, uid)] == [p.id for p in photos] + [lost.id]
    for photo_id, data in originals.items():
        assert photo_bytes(back, uid, photo_id)[1] == data
    back.close()


def test_altered_photo_bytes_are_refused_and_nothing_is_restored(tmp_path: Path) -> None:
    app = build(f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "blobs")
    uid = new_user(app)
    photo = add_photo(app, uid, si.face_png())
    export_snapshot(app.engine, tmp_path / "ok.snap", blobs=app.blob_store)
    app.close()
    with tarfile.open(tmp_path / "ok.snap") as src, tarfile.open(tmp_path / "bad.snap", "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == f"blobs/{photo.blob_key}":
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))
    target = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    with pytest.raises(SnapshotError, match="checksum mismatch for blob"):
        restore_snapshot(tmp_path / "bad.snap", target, blobs=LocalBlobStore(tmp_path / "t-blobs"))
    target.dispose()
    assert not (tmp_path / "t-blobs").exists()


def test_cli_export_and_restore_carry_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    monkeypatch.setenv("PERFECTMATCH_PHOTOS__BLOB_DIR", str(tmp_path / "blobs"))
    src = f"sqlite:///{tmp_path / 'src.db'}"
    app = build(src, tmp_path / "blobs")
    uid = new_user(app)
    photo = add_photo(app, uid, si.face_png())
    app.close()
    runner = CliRunner()
    res = runner.invoke(cli_app, ["--db", src, "--json", "db", "export", "--out", str(tmp_path / "c.snap")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["blobs"] == 1
    dst = f"sqlite:///{tmp_path / 'dst.db'}"
    res = runner.invoke(
        cli_app,
        ["--json", "db", "restore", str(tmp_path / "c.snap"), "--db", dst, "--blob-dir", str(tmp_path / "dst-blobs")],
    )
    assert res.exit_code == 0, res.output
    assert LocalBlobStore(tmp_path / "dst-blobs").exists(photo.blob_key)
