"""Journey 1 end to end on SQLite and PostgreSQL: register -> verify email (token from the email the
notifier recorded) -> basic profile -> photo (face checked) -> questionnaire -> analysis queued while
the AI is down -> profile complete -> analysis done once the AI is back. Bad input a new user would
try on the way is refused with a typed error and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import sample_images as si
from perfectmatch.accounts import Hasher, install
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.storage import schema as s
from perfectmatch.ai.fake_server import FakeOpenAIServer
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.errors import EmailNotVerified, InvalidToken, NotFound
from perfectmatch.models import NotificationType
from perfectmatch.onboarding import complete_questionnaire, drain_profile_queue
from perfectmatch.profiles import (
    InvalidImage,
    InvalidProfile,
    NoFaceFound,
    UnknownUser,
    add_photo,
    completion_status,
    list_photos,
    save_basic_profile,
)
from perfectmatch.questionnaire import default_bank
from perfectmatch.questionnaire.respondents import make_respondents
from perfectmatch.questionnaire.session import Session

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SECRET = "journey-secret-0123456789-abcdefghijkl"
EMAIL = "eileen@example.org"
PASSWORD = "violet-harbour-42"
FORM = {
    "display_name": "Eileen",
    "birth_date": "1990-05-01",
    "gender": "woman",
    "location": {"lat": 37.77, "lon": -122.42, "place": "San Francisco"},
    "bio": "Pilot; likes long flights.",
    "genders_sought": ["man"],
    "age_min": 30,
    "age_max": 45,
    "radius_km": 40,
    "goal": "long_term",
}
TABLES = (
    s.users,
    s.profiles,
    s.preferences,
    s.photos,
    s.responses,
    s.profile_vectors,
    s.analysis_queue,
    s.profile_insights,
    s.credentials,
    s.email_tokens,
)


def app_for(db_url: str, blobs: Path, monkeypatch: pytest.MonkeyPatch, server: FakeOpenAIServer | None) -> App:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    if server is not None:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    settings = Settings(
        _env_file=None,
        db_url=db_url,
        cache={"backend": "none"},
        accounts={"token_secret": SECRET},
        photos={"blob_dir": blobs},
    )
    app = build_app(settings, clock=FakeClock(NOW), notifier=RecordingNotifier())
    install(app, hasher=Hasher.fast())
    return app


def snapshot(app: App, blobs: Path) -> tuple[dict[str, int], list[str]]:
    with app.engine.connect() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}
    files = sorted(str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []
    return counts, files


def answer_questionnaire(seed: int) -> Session:
    bank = default_bank()
    respondent = make_respondents(1, seed=seed, fatigue=False)[0]
    session = Session(bank, seed=seed)
    while (q := session.next_question()) is not None:
        value, importance, seconds = respondent.answer(q)
        session.answer(q.id, value, importance=importance, seconds=max(seconds, 4.0))
    return session


def test_register_verify_profile_photo_questionnaire_analysis(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = tmp_path / "blobs"
    app = app_for(db_url, blobs, monkeypatch, None)  # no AI provider reachable: analysis must queue
    accounts = app.extras["accounts"]

    # 1. register: an unverified account and a verification email
    reg = accounts.register(EMAIL, PASSWORD)
    uid = reg.user_id
    [email] = app.notifier.sent  # type: ignore[attr-defined]
    assert email.type is NotificationType.ACCOUNT and email.channels.email and email.user_id == uid
    with pytest.raises(EmailNotVerified):
        accounts.login(EMAIL, PASSWORD)
    assert completion_status(app, uid).missing == ("basic_profile", "photo", "questionnaire", "analysis")

    # 2. verify with the token from the email (a mangled link first: refused, nothing changes)
    before = snapshot(app, blobs)
    with pytest.raises(InvalidToken):
        accounts.verify_email(email.content["token"][:-2] + "xx")
    assert snapshot(app, blobs) == before
    assert accounts.verify_email(email.content["token"]) == uid
    assert accounts.login(EMAIL, PASSWORD).user_id == uid

    # 3. basic profile (an underage birth date first: refused, nothing written)
    before = snapshot(app, blobs)
    with pytest.raises(InvalidProfile, match="at least 18"):
        save_basic_profile(app, uid, {**FORM, "birth_date": f"{NOW.year - 15}-01-01"})
    assert snapshot(app, blobs) == before
    save_basic_profile(app, uid, FORM)
    assert completion_status(app, uid).missing == ("photo", "questionnaire", "analysis")

    # 4. photos: what a new user tries first is refused, with a typed error, and changes nothing
    before = snapshot(app, blobs)
    tries = [
        (lambda: add_photo(app, uid, si.TEXT_AS_JPG, name="photo.jpg"), InvalidImage),
        (lambda: add_photo(app, uid, si.png_header_only(20000, 20000), name="huge.png"), InvalidImage),
        (lambda: add_photo(app, uid, si.no_face(), name="sunset.png"), NoFaceFound),
        (lambda: add_photo(app, uid + 1000, si.face_png(), name="me.png"), UnknownUser),
        (lambda: completion_status(app, uid + 1000), UnknownUser),
    ]
    for attempt, error in tries:
        with pytest.raises(error):
            attempt()
    assert snapshot(app, blobs) == before
    photo = add_photo(app, uid, si.face_jpeg_rotated_with_gps(), name="IMG_0001.jpg")
    assert photo.has_face and b"GPS" not in app.blob_store.get(photo.blob_key)
    assert completion_status(app, uid).missing == ("questionnaire", "analysis")

    # 5. questionnaire: an unfinished session stores nothing; a finished one stores answers and vector
    assert not complete_questionnaire(app, uid, Session(default_bank())).complete
    assert completion_status(app, uid).missing == ("questionnaire", "analysis")
    result = complete_questionnaire(app, uid, answer_questionnaire(seed=11))
    assert result.complete

    # 6. analysis: the AI is down, so it is queued, and the profile is complete all the same
    assert result.analysis == "queued"
    status = completion_status(app, uid)
    assert status.complete and status.analysis == "queued" and status.photos == 1
    with app.uow as uow:
        member = uow.member(uid)  # what the daily batch will load
    assert member.profile.photos == (photo.blob_key,) and member.response is not None
    assert member.preferences.genders_sought == frozenset({"man"})
    app.close()

    # 7. a restart later, with the AI reachable: the queued analysis is done
    server = FakeOpenAIServer().start()
    try:
        back = app_for(db_url, blobs, monkeypatch, server)
        assert drain_profile_queue(back)["analysed"] == 1
        status = completion_status(back, uid)
        assert status.complete and status.analysis == "done"
        assert [p.id for p in list_photos(back, uid)] == [photo.id]
        back.close()
    finally:
        server.stop()


def test_unknown_user_everywhere_is_a_typed_not_found(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_for(db_url, tmp_path / "blobs", monkeypatch, None)
    before = snapshot(app, tmp_path / "blobs")
    for attempt in (
        lambda: save_basic_profile(app, 31337, FORM),
        lambda: add_photo(app, 31337, si.face_png()),
        lambda: list_photos(app, 31337),
        lambda: completion_status(app, 31337),
        lambda: complete_questionnaire(app, 31337, answer_questionnaire(seed=2)),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert snapshot(app, tmp_path / "blobs") == before
    app.close()
