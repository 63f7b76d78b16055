"""Support data: show a user, export everything held about them, erase their personal data.

``erase_user`` keeps the rows that aggregates need (the user row, matches, likes, blocks, payments)
but removes or anonymizes every piece of personal data: email and import id, display name (becomes
``"deleted user"``), photos (rows, and their bytes in the blob store), bio and place; the birth
date is coarsened to 1 January of the birth year and the location to whole degrees (enough for age
and region statistics); the questionnaire
response, vector, preferences, AI profile insight, pair insights, analysis-queue payloads, saved
billing settings and the user's notifications are deleted; so are the login credentials (email and
password hash), verification tokens, social-login identities and login-throttle row; card details
are cleared (and the email in stored webhook payloads replaced); the bodies of
their messages (and the previews in the recipients' notifications) become ``"[deleted]"`` while
the other side keeps their own messages; conversations are closed and their open matches become
``unmatched`` (the rows stay, for counts, but leave the other users' lists). The status becomes ``deleted``,
so every future batch (which loads only active users) skips them, and the ``recent_matches:<id>``
cache entry is dropped. Exports and erasures are audited (without personal data).
"""

from __future__ import annotations

import base64
import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, delete, func, or_, select, update

from perfectmatch.accounts.wiring import login_key_of
from perfectmatch.adapters.storage import schema as s
from perfectmatch.adapters.storage.accounts import erase_account, export_account
from perfectmatch.models import MatchStatus, UserStatus
from perfectmatch.ops.audit import ERASED, EXPORTED, audit
from perfectmatch.ops.containment import user_status
from perfectmatch.profiles.photos import erase_photos
from perfectmatch.social.chat import MESSAGE_BLOBS

DELETED_NAME = "deleted user"
DELETED_BODY = "[deleted]"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _rows(conn: Connection, table: Table, *where: Any, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    pk = list(table.primary_key.columns)
    result = conn.execute(select(table).where(*where).order_by(*pk))
    return [{k: _plain(v) for k, v in r._mapping.items() if k not in drop} for r in result]


def _one(conn: Connection, table: Table, *where: Any, drop: tuple[str, ...] = ()) -> dict[str, Any] | None:
    rows = _rows(conn, table, *where, drop=drop)
    return rows[0] if rows else None


def _count(conn: Connection, table: Table, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _involves(table: Table, uid: int, a: str = "user_a", b: str = "user_b") -> Any:
    return or_(table.c[a] == uid, table.c[b] == uid)


def show_user(app: Any, user_id: int) -> dict[str, Any]:
    """User, profile, preferences, current subscription state and activity (and photo) counts of ``user_id``.

    Raises
    ------
    NotFound
        Unknown user.
    """
    with app.engine.connect() as conn:
        user_status(conn, user_id)
        sub = conn.execute(select(s.subscriptions.c.plan_id, s.subscriptions.c.state, s.subscriptions.c.period_end)
                           .where(s.subscriptions.c.user_id == user_id)
                           .order_by(s.subscriptions.c.id.desc()).limit(1)).first()
        return {
            "user": _one(conn, s.users, s.users.c.id == user_id),
            "profile": _one(conn, s.profiles, s.profiles.c.user_id == user_id),
            "preferences": _one(conn, s.preferences, s.preferences.c.user_id == user_id),
            "subscription": None if sub is None else {k: _plain(v) for k, v in sub._mapping.items()},
            "counts": {
                "matches": _count(conn, s.matches, _involves(s.matches, user_id)),
                "likes_given": _count(conn, s.likes, s.likes.c.liker == user_id),
                "likes_received": _count(conn, s.likes, s.likes.c.likee == user_id),
                "messages_sent": _count(conn, s.messages, s.messages.c.sender_id == user_id),
                "conversations": _count(conn, s.conversations, _involves(s.conversations, user_id)),
                "photos": _count(conn, s.photos, s.photos.c.user_id == user_id),
            },
        }


def collect_user_data(conn: Connection, user_id: int) -> dict[str, Any]:
    """Everything stored about ``user_id`` as JSON-ready data (the vector itself as metadata only)."""
    user_status(conn, user_id)
    conv_ids = list(conn.execute(select(s.conversations.c.id)
                                 .where(_involves(s.conversations, user_id))).scalars())
    by_user = {
        "preferences": s.preferences, "questionnaire_response": s.responses,
        "notification_preferences": s.notification_prefs, "profile_insight": s.profile_insights,
        "saved_billing_settings": s.billing_settings,
    }
    return {
        "user": _one(conn, s.users, s.users.c.id == user_id),
        "profile": _one(conn, s.profiles, s.profiles.c.user_id == user_id),
        **{name: _one(conn, t, t.c.user_id == user_id) for name, t in by_user.items()},
        "vector": _one(conn, s.profile_vectors, s.profile_vectors.c.user_id == user_id, drop=("data", "importance")),
        "matches": _rows(conn, s.matches, _involves(s.matches, user_id)),
        "insights": _rows(conn, s.insights, _involves(s.insights, user_id)),
        "likes_given": _rows(conn, s.likes, s.likes.c.liker == user_id),
        "blocks_made": _rows(conn, s.blocks, s.blocks.c.blocker == user_id),
        "conversations": _rows(conn, s.conversations, s.conversations.c.id.in_(conv_ids)),
        "messages_sent": _rows(conn, s.messages, s.messages.c.sender_id == user_id),
        "notifications": _rows(conn, s.notifications, s.notifications.c.user_id == user_id),
        "subscriptions": _rows(conn, s.subscriptions, s.subscriptions.c.user_id == user_id),
        "payments": _rows(conn, s.billing_payments, s.billing_payments.c.user_id == user_id),
        "subscription_history": _rows(conn, s.billing_transitions, s.billing_transitions.c.user_id == user_id),
        "analysis_queue": _rows(conn, s.analysis_queue, s.analysis_queue.c.user_id == user_id),
        "audit_events": _rows(conn, s.audit_log, s.audit_log.c.user_id == user_id),
        "photos": _rows(conn, s.photos, s.photos.c.user_id == user_id),  # metadata; the bytes stay in the blob store
        "login": {k: _plain_all(v) for k, v in export_account(conn, user_id).items()},  # no hash, no token
    }


def _plain_all(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain_all(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return _plain(value)


def export_user(app: Any, user_id: int, out: Path, *, actor: str = "") -> dict[str, Any]:
    """Write everything held about ``user_id`` to ``out`` as JSON (atomically) and audit it.

    Returns
    -------
    dict
        ``user_id``, ``path``, ``bytes`` and the number of records per section.

    Raises
    ------
    NotFound
        Unknown user.
    """
    out = Path(out)
    with app.engine.connect() as conn:
        data = collect_user_data(conn, user_id)
    payload = json.dumps({"exported_at": app.clock.now().isoformat(), **data}, indent=2, sort_keys=True,
                         default=str)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(payload, encoding="utf-8")
    os.replace(tmp, out)
    sections = {k: (len(v) if isinstance(v, list) else int(v is not None)) for k, v in data.items()}
    audit(app, EXPORTED, user_id, {"sections": sections}, actor=actor)
    return {"user_id": user_id, "path": str(out), "bytes": len(payload.encode()), "sections": sections}


def erase_user(app: Any, user_id: int, *, actor: str = "") -> dict[str, Any]:
    """Remove ``user_id``'s personal data, keep aggregates, keep them out of every future batch.

    Idempotent: erasing an erased user runs the same statements again (finding nothing new).

    Returns
    -------
    dict
        ``user_id``, ``status`` and how many rows each step touched.

    Raises
    ------
    NotFound
        Unknown user.
    """
    uid = user_id
    done: dict[str, int] = {}

    def run(name: str, stmt: Any) -> None:
        done[name] = int(conn.execute(stmt).rowcount or 0)

    with app.engine.begin() as conn:
        user_status(conn, uid)
        email = conn.execute(select(s.users.c.email).where(s.users.c.id == uid)).scalar_one()
        if email:  # stored webhook payloads may quote the customer's email
            hooks = s.webhook_events
            run("webhook_events", update(hooks).where(hooks.c.detail.contains(email, autoescape=True))
                .values(detail=func.replace(hooks.c.detail, email, "[email]")))
        run("users", update(s.users).where(s.users.c.id == uid)
            .values(email=None, source_id=None, status=UserStatus.DELETED.value))
        profile = conn.execute(select(s.profiles.c.birth_date, s.profiles.c.lat, s.profiles.c.lon)
                               .where(s.profiles.c.user_id == uid)).first()
        if profile is not None:
            run("profiles", update(s.profiles).where(s.profiles.c.user_id == uid).values(
                display_name=DELETED_NAME, photos=[], bio="", place="",
                birth_date=date(profile.birth_date.year, 1, 1),
                lat=float(round(profile.lat)), lon=float(round(profile.lon))))
        for name, table in (("responses", s.responses), ("profile_vectors", s.profile_vectors),
                            ("preferences", s.preferences), ("notifications", s.notifications),
                            ("notification_prefs", s.notification_prefs), ("analysis_queue", s.analysis_queue),
                            ("profile_insights", s.profile_insights), ("billing_settings", s.billing_settings)):
            run(name, delete(table).where(table.c.user_id == uid))
        done.update(erase_account(conn, uid, login_key_of(app)))
        insight_ids = list(conn.execute(select(s.insights.c.id).where(_involves(s.insights, uid))).scalars())
        if insight_ids:
            conn.execute(update(s.matches).where(s.matches.c.insight_id.in_(insight_ids)).values(insight_id=None))
        run("insights", delete(s.insights).where(_involves(s.insights, uid)))
        message_ids = list(conn.execute(select(s.messages.c.id).where(s.messages.c.sender_id == uid)).scalars())
        mine = f"blob:{MESSAGE_BLOBS}{uid}/"  # pictures this user sent (send_image's keys)
        photo_keys = [b.removeprefix("blob:") for b in conn.execute(select(s.messages.c.body).where(
            s.messages.c.sender_id == uid, s.messages.c.kind == "image", s.messages.c.body.startswith(mine)))
            .scalars()]
        run("messages", update(s.messages).where(s.messages.c.sender_id == uid)
            .values(body=DELETED_BODY, kind="text"))
        done["message_notifications"] = _scrub_previews(conn, message_ids)
        run("matches_hidden", update(s.matches).where(_involves(s.matches, uid), s.matches.c.status.in_(
            [MatchStatus.OFFERED.value, MatchStatus.MUTUAL.value])).values(status=MatchStatus.UNMATCHED.value))
        run("conversations", update(s.conversations).where(_involves(s.conversations, uid)).values(active=False))
        run("subscriptions", update(s.subscriptions).where(s.subscriptions.c.user_id == uid).values(
            card_last4=None, card_brand=None, card_exp_month=None, card_exp_year=None))
        done["photos"], profile_keys = erase_photos(conn, uid)
        photo_keys += profile_keys  # profile photos and pictures sent in conversations
        audit(conn, ERASED, uid, {"rows": dict(done)}, actor=actor, at=app.clock.now())
    if photo_keys:  # after the rows are gone (a crash in between leaves bytes nobody points at, not a dangling row)
        done["photo_blobs"] = sum(app.blob_store.delete(key) for key in photo_keys)
    if app.cache is not None:
        done["cache"] = int(bool(app.cache.delete(f"recent_matches:{uid}")))
    return {"user_id": uid, "status": UserStatus.DELETED.value, "rows": done}


def _scrub_previews(conn: Connection, message_ids: list[int]) -> int:
    """Replace the preview of the recipients' notifications about these messages; returns how many."""
    if not message_ids:
        return 0
    keys = [f"message:{mid}" for mid in message_ids]
    n = 0
    for nid, content in conn.execute(select(s.notifications.c.id, s.notifications.c.content)
                                     .where(s.notifications.c.id.in_(keys))).all():
        if isinstance(content, dict) and "preview" in content:
            conn.execute(update(s.notifications).where(s.notifications.c.id == nid)
                         .values(content={**content, "preview": DELETED_BODY}))
            n += 1
    return n
