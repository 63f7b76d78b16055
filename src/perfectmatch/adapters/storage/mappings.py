"""Row <-> model conversions for every aggregate, as ``repositories.Mapping`` objects."""

from __future__ import annotations

from typing import Any

from perfectmatch.adapters.storage import schema as s
from perfectmatch.adapters.storage.repositories import Mapping
from perfectmatch.models import (
    Answer,
    Block,
    Channels,
    Conversation,
    Gender,
    GeoPoint,
    Like,
    Match,
    Message,
    Notification,
    NotificationPreferences,
    Preferences,
    Profile,
    ProfileVector,
    QuestionnaireResponse,
    Subscription,
    User,
)


def _dump(model: Any, **renames: str) -> dict[str, Any]:
    row = model.model_dump(mode="python")
    for old, new in renames.items():
        row[new] = row.pop(old)
    return row


def genders_to_str(genders: frozenset[Gender]) -> str:
    return ",".join(sorted(g.value for g in genders))


def genders_from_str(text: str) -> frozenset[Gender]:
    return frozenset(Gender(g) for g in text.split(",") if g)


def _profile_row(p: Profile) -> dict[str, Any]:
    return {
        "user_id": p.user_id,
        "display_name": p.display_name,
        "birth_date": p.birth_date,
        "gender": p.gender.value,
        "lat": p.location.lat,
        "lon": p.location.lon,
        "place": p.location.place,
        "photos": list(p.photos),
        "bio": p.bio,
    }


def _profile(r: Any) -> Profile:
    return Profile(
        user_id=r["user_id"],
        display_name=r["display_name"],
        birth_date=r["birth_date"],
        gender=r["gender"],
        location=GeoPoint(lat=r["lat"], lon=r["lon"], place=r["place"]),
        photos=tuple(r["photos"]),
        bio=r["bio"],
    )


def _prefs_row(p: Preferences) -> dict[str, Any]:
    return {
        "user_id": p.user_id,
        "genders_sought": genders_to_str(p.genders_sought),
        "age_min": p.age_min,
        "age_max": p.age_max,
        "radius_km": p.radius_km,
        "goal": p.goal.value,
        "dealbreakers": sorted(p.dealbreakers),
    }


def _prefs(r: Any) -> Preferences:
    return Preferences(
        user_id=r["user_id"],
        genders_sought=genders_from_str(r["genders_sought"]),
        age_min=r["age_min"],
        age_max=r["age_max"],
        radius_km=r["radius_km"],
        goal=r["goal"],
        dealbreakers=frozenset(r["dealbreakers"]),
    )


def response_row(q: QuestionnaireResponse) -> dict[str, Any]:
    return {
        "user_id": q.user_id,
        "bank_version": q.bank_version,
        "answers": [
            [a.question_id, list(a.value) if isinstance(a.value, tuple) else a.value, a.importance, a.seconds]
            for a in q.answers
        ],
        "open_texts": q.open_texts,
        "open_texts_missing_reason": q.open_texts_missing_reason,
        "dimension_scores": {d.value: v for d, v in q.dimension_scores.items()},
        "completed_at": q.completed_at,
    }


def _response(r: Any) -> QuestionnaireResponse:
    return QuestionnaireResponse(
        user_id=r["user_id"],
        bank_version=r["bank_version"],
        answers=tuple(
            Answer(question_id=q, value=tuple(v) if isinstance(v, list) else v, importance=imp, seconds=sec)
            for q, v, imp, sec in r["answers"]
        ),
        open_texts=r["open_texts"],
        open_texts_missing_reason=r["open_texts_missing_reason"],
        dimension_scores=r["dimension_scores"],
        completed_at=r["completed_at"],
    )


def _vector_row(v: ProfileVector) -> dict[str, Any]:
    import numpy as np

    return {"user_id": v.user_id, "version": v.version, "dim": len(v.values),
            "data": np.asarray(v.values, dtype="<f4").tobytes()}


def _vector(r: Any) -> ProfileVector:
    import numpy as np

    values = np.frombuffer(r["data"], dtype="<f4").astype(np.float64)
    return ProfileVector(user_id=r["user_id"], version=r["version"], values=tuple(values.tolist()))


def _notification_row(n: Notification) -> dict[str, Any]:
    row = n.model_dump(mode="python")
    row["type"] = n.type.value
    row["priority"] = n.priority.value
    row["channels"] = n.channels.model_dump()
    return row


def _notification(r: Any) -> Notification:
    data = dict(r)
    data["channels"] = Channels(**data["channels"])
    return Notification(**data)


def _np_row(p: NotificationPreferences) -> dict[str, Any]:
    return {"user_id": p.user_id, "data": p.model_dump(mode="json", exclude={"user_id"})}


def _enum_values(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") and not isinstance(v, (int, float)) else v) for k, v in row.items()}


USERS = Mapping(s.users, User, ("id",), lambda u: _enum_values(_dump(u)), lambda r: User(**r), generated_id=True)
PROFILES = Mapping(s.profiles, Profile, ("user_id",), _profile_row, _profile)
PREFERENCES = Mapping(s.preferences, Preferences, ("user_id",), _prefs_row, _prefs)
RESPONSES = Mapping(s.responses, QuestionnaireResponse, ("user_id",), response_row, _response)
VECTORS = Mapping(s.profile_vectors, ProfileVector, ("user_id",), _vector_row, _vector)
MATCHES = Mapping(s.matches, Match, ("user_a", "user_b"), lambda m: _enum_values(_dump(m)), lambda r: Match(**r))
LIKES = Mapping(s.likes, Like, ("liker", "likee"), _dump, lambda r: Like(**r))
BLOCKS = Mapping(s.blocks, Block, ("blocker", "blocked"), _dump, lambda r: Block(**r))
CONVERSATIONS = Mapping(
    s.conversations, Conversation, ("id",), _dump, lambda r: Conversation(**r), generated_id=True
)
MESSAGES = Mapping(
    s.messages, Message, ("id",), lambda m: _enum_values(_dump(m)), lambda r: Message(**r), generated_id=True
)
SUBSCRIPTIONS = Mapping(
    s.subscriptions, Subscription, ("id",), lambda x: _enum_values(_dump(x)),
    lambda r: Subscription(**{k: r[k] for k in Subscription.model_fields}),  # billing adds more columns
    generated_id=True,
)
NOTIFICATIONS = Mapping(s.notifications, Notification, ("id",), _notification_row, _notification)
NOTIFICATION_PREFS = Mapping(
    s.notification_prefs, NotificationPreferences, ("user_id",), _np_row,
    lambda r: NotificationPreferences(user_id=r["user_id"], **r["data"]),
)
