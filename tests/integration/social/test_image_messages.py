"""Pictures in conversations on real SQLite and PostgreSQL: checked like profile photos, stored in the
blob store without metadata, only between a mutual pair, never pointing at someone else's bytes, and
gone with the sender's erasure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import select

import sample_images as si
from perfectmatch.adapters.blobs.memory import MemoryBlobStore
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.storage import schema as s
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.errors import InvalidInputError
from perfectmatch.models import DeliveryStatus, MessageKind
from perfectmatch.ops.support import erase_user
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store
from perfectmatch.profiles import InvalidImage
from perfectmatch.social import chat, likes
from perfectmatch.social.delivery import RetryPolicy
from perfectmatch.social.errors import NotMutualError
from perfectmatch.social.wiring import install

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    settings = Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}, seed=5)
    app = build_app(settings, clock=FakeClock(NOW), notifier=RecordingNotifier(), blob_store=MemoryBlobStore())
    install(app, policy=RetryPolicy(attempts=2, base_s=0.01, sleep=lambda s: None))
    simulate_and_store(app.uow, 300, 11, today=DAY, vector_spec=app.vector_spec)
    assert run_daily_batch(app, day=DAY).counts["matches"] > 0
    yield app
    app.close()


def _pair(app: App) -> tuple[int, int]:
    with app.uow as uow:
        m = max(uow.batch.matches_on(DAY), key=lambda m: m.final_score)
    return m.user_a, m.user_b


def _blobs(app: App) -> dict[str, bytes]:
    return dict(app.blob_store.blobs)  # type: ignore[attr-defined]


def test_a_picture_goes_through_the_checks_and_the_blob_store(app: App) -> None:
    a, b = _pair(app)
    with pytest.raises(NotMutualError):  # no conversation yet: nothing stored
        chat.send_image(app, a, b, si.face_png())
    assert _blobs(app) == {}
    likes.like(app, a, b)
    likes.like(app, b, a)

    msg = chat.send_image(app, a, b, si.face_jpeg_rotated_with_gps(), name="beach.jpg")
    assert msg.kind is MessageKind.IMAGE and msg.delivery is DeliveryStatus.DELIVERED
    key = msg.body.removeprefix("blob:")
    assert key.startswith(f"messages/{a}/") and key in _blobs(app)
    stored = Image.open(BytesIO(_blobs(app)[key]))
    assert stored.format == "JPEG" and not stored.getexif()  # no GPS, no EXIF at all
    assert [m.body for m in chat.history(app, b, a).messages] == [msg.body]

    before = dict(_blobs(app))
    for bad in (b"just text, named .jpg", si.png_header_only(20_000, 20_000), si.gif()):
        with pytest.raises(InvalidImage):
            chat.send_image(app, a, b, bad, name="x.jpg")
    assert _blobs(app) == before and len(chat.history(app, b, a).messages) == 1


def test_an_image_message_cannot_point_at_other_bytes(app: App) -> None:
    a, b = _pair(app)
    likes.like(app, a, b)
    likes.like(app, b, a)
    theirs = chat.send_image(app, b, a, si.no_face())
    for body in (theirs.body, f"blob:messages/{a}/never-uploaded.jpg", "blob:photos/1/x.jpg"):
        with pytest.raises(InvalidInputError, match="is not a picture user"):
            chat.send_message(app, a, b, body, kind=MessageKind.IMAGE)
    assert len(chat.history(app, a, b).messages) == 1


def test_erasure_removes_the_pictures_the_user_sent_and_keeps_the_others(app: App) -> None:
    a, b = _pair(app)
    likes.like(app, a, b)
    likes.like(app, b, a)
    mine = chat.send_image(app, a, b, si.face_png())
    again = chat.send_image(app, a, b, si.face_png())  # the same picture: one blob, two messages
    theirs = chat.send_image(app, b, a, si.no_face())
    assert mine.body == again.body and len(_blobs(app)) == 2
    erase_user(app, a, actor="test")
    assert list(_blobs(app)) == [theirs.body.removeprefix("blob:")]
    with app.engine.connect() as conn:  # the conversation is closed now: read the rows themselves
        rows = conn.execute(select(s.messages.c.sender_id, s.messages.c.body)).all()
    assert {(sender, body) for sender, body in rows} == {(a, "[deleted]"), (b, theirs.body)}
