"""Hypothesis strategies that draw valid domain objects (shared by the test suites)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import strategies as st

from perfectmatch.models import (
    Answer,
    Block,
    Channels,
    Gender,
    GeoPoint,
    Like,
    Match,
    Notification,
    NotificationPreferences,
    NotificationType,
    Preferences,
    Priority,
    Profile,
    ProfileVector,
    QuestionnaireResponse,
    RelationshipGoal,
    ScoreSource,
    Subscription,
    SubscriptionState,
    Tier,
    User,
    UserStatus,
)

TODAY = date.today()
_serial = itertools.count()
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
aware = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
unit = st.floats(0.0, 1.0, allow_nan=False)
score = st.floats(0.0, 100.0, allow_nan=False)


@st.composite
def users(draw: st.DrawFn, *, source: str | None = None) -> User:
    created = draw(aware)
    return User(
        email=f"u{next(_serial)}@example.com" if draw(st.booleans()) else None,  # unique across examples
        status=draw(st.sampled_from(UserStatus)),
        tier=draw(st.sampled_from(Tier)),
        created_at=created,
        last_active_at=created + draw(st.timedeltas(timedelta(0), timedelta(days=900))),
        source=source,
        source_id=None if source is None else f"s{next(_serial)}",
    )


def profiles(user_id: int) -> st.SearchStrategy[Profile]:
    return st.builds(
        Profile,
        user_id=st.just(user_id),
        display_name=names,
        birth_date=st.dates(TODAY - timedelta(days=365 * 100), TODAY - timedelta(days=365 * 18 + 5)),
        gender=st.sampled_from(Gender),
        location=st.builds(GeoPoint, lat=st.floats(-90, 90), lon=st.floats(-180, 180), place=texts),
        photos=st.lists(st.from_regex(r"https://img\.example/[a-z0-9]{1,12}\.jpg", fullmatch=True), max_size=3)
        .map(tuple),
        bio=texts,
    )


@st.composite
def preferences(draw: st.DrawFn, user_id: int) -> Preferences:
    lo = draw(st.integers(18, 120))
    return Preferences(
        user_id=user_id,
        genders_sought=frozenset(draw(st.sets(st.sampled_from(Gender), min_size=1))),
        age_min=lo,
        age_max=draw(st.integers(lo, 120)),
        radius_km=draw(st.floats(0.5, 20_000)),
        goal=draw(st.sampled_from(RelationshipGoal)),
        dealbreakers=frozenset(draw(st.sets(st.sampled_from(["smoking", "kids", "pets", "religion"])))),
    )


answer_values = (
    st.sampled_from(["option1", "option2", "yes", "no"])
    | st.integers(-1000, 1000)
    | st.floats(-1e6, 1e6, allow_nan=False)
    | st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True).map(tuple)
)


@st.composite
def responses(draw: st.DrawFn, user_id: int) -> QuestionnaireResponse:
    qids = draw(st.lists(st.from_regex(r"q[0-9]{1,3}", fullmatch=True), unique=True, max_size=8))
    return QuestionnaireResponse(
        user_id=user_id,
        bank_version=draw(st.sampled_from(["default-1", "test-2"])),
        answers=tuple(
            Answer(question_id=q, value=draw(answer_values), importance=draw(st.integers(1, 10)),
                   seconds=draw(st.none() | st.floats(0, 600)))
            for q in qids
        ),
        open_texts=draw(st.dictionaries(st.sampled_from(["o1", "o2", "o3"]), texts, max_size=3)),
        completed_at=draw(st.none() | aware),
    )


def vectors(user_id: int, dim: int = 8) -> st.SearchStrategy[ProfileVector]:
    import numpy as np

    def normalise(xs: list[float]) -> ProfileVector:
        v = np.asarray(xs, dtype=np.float32)
        v = v / np.linalg.norm(v)
        return ProfileVector(user_id=user_id, version="v1", values=tuple(float(x) for x in v))

    return st.lists(st.floats(0.1, 10), min_size=dim, max_size=dim).map(normalise)


def matches(a: int, b: int) -> st.SearchStrategy[Match]:
    lo, hi = min(a, b), max(a, b)
    return st.builds(
        Match, user_a=st.just(lo), user_b=st.just(hi), day=st.dates(date(2020, 1, 1), date(2040, 1, 1)),
        vector_score=unit, ai_score=st.none() | score, final_score=score, source=st.sampled_from(ScoreSource),
        insight_id=st.none() | st.uuids().map(str),
    )


def likes(a: int, b: int) -> st.SearchStrategy[Like]:
    return st.builds(Like, liker=st.just(a), likee=st.just(b), created_at=aware)


def blocks(a: int, b: int) -> st.SearchStrategy[Block]:
    return st.builds(Block, blocker=st.just(a), blocked=st.just(b), created_at=aware)


@st.composite
def subscriptions(draw: st.DrawFn, user_id: int) -> Subscription:
    start = draw(aware)
    return Subscription(
        user_id=user_id, plan_id=draw(st.sampled_from(["premium_monthly", "premium_annual"])),
        state=draw(st.sampled_from(SubscriptionState)), period_start=start,
        period_end=start + draw(st.timedeltas(timedelta(days=1), timedelta(days=366))),
        card_last4=draw(st.none() | st.from_regex(r"[0-9]{4}", fullmatch=True)),
        card_brand=draw(st.none() | st.sampled_from(["visa", "mastercard"])),
    )


def notifications(user_id: int) -> st.SearchStrategy[Notification]:
    return st.builds(
        Notification, id=st.uuids().map(str), user_id=st.just(user_id), type=st.sampled_from(NotificationType),
        priority=st.sampled_from(Priority),
        content=st.dictionaries(st.sampled_from(["matchId", "score", "firstName"]), st.integers() | texts, max_size=3),
        channels=st.builds(Channels), delivered=st.booleans(), read=st.booleans(), created_at=aware,
        delivered_at=st.none() | aware, read_at=st.none() | aware,
    )


def notification_prefs(user_id: int) -> st.SearchStrategy[NotificationPreferences]:
    return st.builds(
        NotificationPreferences, user_id=st.just(user_id),
        enabled=st.dictionaries(st.sampled_from(NotificationType), st.booleans()),
        channels=st.builds(Channels), quiet_start=st.none() | st.times(), quiet_end=st.none() | st.just(time(7)),
        timezone=st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles"]), max_per_hour=st.integers(1, 100),
    )
