"""``perfectmatch user profile|status|photo ...`` on a real SQLite file: thin commands, JSON output,
one error line (no traceback) for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sample_images as si
from perfectmatch.adapters.storage.engine import make_engine, upgrade
from perfectmatch.adapters.storage.schema import users
from perfectmatch.cli import app as cli_app
from perfectmatch.cli import main

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
FORM = {
    "display_name": "Eileen",
    "birth_date": "1990-05-01",
    "gender": "woman",
    "location": {"lat": 37.77, "lon": -122.42, "place": "San Francisco"},
    "genders_sought": ["man"],
}


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    monkeypatch.setenv("PERFECTMATCH_PHOTOS__BLOB_DIR", str(tmp_path / "blobs"))
    url = f"sqlite:///{tmp_path / 'pm.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        uid = conn.execute(
            users.insert().values(status="active", tier="free", created_at=NOW, last_active_at=NOW)
        ).inserted_primary_key[0]
    engine.dispose()
    return url, int(uid)


def test_profile_photos_and_status(db: tuple[str, int], tmp_path: Path) -> None:
    url, uid = db
    runner = CliRunner()
    base = ["--db", url, "--json"]
    (tmp_path / "profile.json").write_text(json.dumps(FORM))
    (tmp_path / "me.png").write_bytes(si.face_png())
    (tmp_path / "me2.jpg").write_bytes(si.face_jpeg_rotated_with_gps())

    res = runner.invoke(cli_app, [*base, "user", "profile", str(uid), str(tmp_path / "profile.json")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["profile"]["display_name"] == "Eileen"
    res = runner.invoke(
        cli_app, [*base, "user", "photo", "add", str(uid), str(tmp_path / "me.png"), str(tmp_path / "me2.jpg")]
    )
    assert res.exit_code == 0, res.output
    added = json.loads(res.stdout)
    assert [p["position"] for p in added] == [0, 1] and all(p["has_face"] for p in added)
    ids = [p["id"] for p in added]
    res = runner.invoke(cli_app, [*base, "user", "photo", "order", str(uid), str(ids[1]), str(ids[0])])
    assert res.exit_code == 0 and [p["id"] for p in json.loads(res.stdout)] == ids[::-1]
    res = runner.invoke(cli_app, [*base, "user", "photo", "delete", str(uid), str(ids[0])])
    assert res.exit_code == 0 and [p["id"] for p in json.loads(res.stdout)] == [ids[1]]
    res = runner.invoke(cli_app, [*base, "user", "photo", "list", str(uid)])
    assert [p["position"] for p in json.loads(res.stdout)] == [0]
    res = runner.invoke(cli_app, [*base, "user", "status", str(uid)])
    status = json.loads(res.stdout)
    assert status["basic_profile"] and status["photos"] == 1 and not status["complete"]
    assert status["missing"] == ["questionnaire", "analysis"]
    assert len(list((tmp_path / "blobs").rglob("*.jpg"))) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["photo", "add", "{uid}", "notes.jpg"], "notes.jpg: the content is not a JPEG, PNG or WebP image"),
        (["photo", "add", "{uid}", "huge.png"], "huge.png: the image has more than the 40,000,000 pixels allowed"),
        (["photo", "add", "{uid}", "sunset.png"], "sunset.png: no face found"),
        (["photo", "add", "{uid}", "missing.jpg"], "cannot read photo missing.jpg"),
        (["photo", "add", "999999", "me.png"], "user 999999 not found"),
        (["photo", "list", "999999"], "user 999999 not found"),
        (["photo", "delete", "{uid}", "5"], "user {uid} has no photo 5"),
        (["status", "999999"], "user 999999 not found"),
        (["profile", "{uid}", "notes.jpg"], "notes.jpg: not valid JSON"),
        (["profile", "{uid}", "teen.json"], "age must be at least 18"),
    ],
)
def test_bad_input_is_one_error_line_and_changes_nothing(
    db: tuple[str, int], tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url, uid = db
    (tmp_path / "notes.jpg").write_bytes(si.TEXT_AS_JPG)
    (tmp_path / "huge.png").write_bytes(si.png_header_only(20000, 20000))
    (tmp_path / "sunset.png").write_bytes(si.no_face())
    (tmp_path / "me.png").write_bytes(si.face_png())
    (tmp_path / "teen.json").write_text(json.dumps({**FORM, "birth_date": f"{NOW.year - 15}-06-01"}))
    args = [a.format(uid=uid) for a in argv]
    assert main(["--db", url, "user", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and message.format(uid=uid) in err[0], err
    assert not (tmp_path / "blobs").exists() or not list((tmp_path / "blobs").rglob("*.jpg"))
