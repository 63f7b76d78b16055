"""Domain models refuse invalid values with an error that names the field and the value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from perfectmatch.errors import describe_validation_error
from perfectmatch.models import (
    Answer,
    GeoPoint,
    Like,
    Match,
    Preferences,
    Profile,
    ProfileVector,
    QuestionnaireResponse,
    ScoreSource,
    User,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def message(fn) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        fn()
    return describe_validation_error(info.value)


def profile(**kw: object) -> Profile:
    base = {"user_id": 1, "display_name": "Ana", "birth_date": date(1990, 5, 1), "gender": "woman",
            "location": GeoPoint(lat=37.7, lon=-122.4, place="San Francisco")}
    return Profile(**{**base, **kw})


def prefs(**kw: object) -> Preferences:
    base = {"user_id": 1, "genders_sought": {"man"}, "age_min": 25, "age_max": 40, "radius_km": 30,
            "goal": "long_term"}
    return Preferences(**{**base, **kw})


def test_valid_models_build() -> None:
    assert profile().age_on(date(2026, 5, 1)) == 36
    assert prefs().goal.value == "long_term"


def test_under_18_names_field_and_value() -> None:
    young = date.today() - timedelta(days=365 * 17)
    msg = message(lambda: profile(birth_date=young))
    assert "birth_date" in msg and "at least 18" in msg and str(young) in msg


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"age_min": 40, "age_max": 30}, "Preferences", "age_min 40 > age_max 30"),
        ({"radius_km": 0}, "radius_km", "0"),
        ({"radius_km": -5}, "radius_km", "-5"),
        ({"genders_sought": {"robot"}}, "genders_sought", "robot"),
        ({"genders_sought": set()}, "genders_sought", "set()"),
        ({"goal": "forever"}, "goal", "forever"),
    ],
)
def test_bad_preferences(kwargs: dict, field: str, value: str) -> None:
    msg = message(lambda: prefs(**kwargs))
    assert field in msg and value in msg


def test_bad_location_and_gender() -> None:
    assert "lat" in message(lambda: GeoPoint(lat=91, lon=0)) and "91" in message(lambda: GeoPoint(lat=91, lon=0))
    msg = message(lambda: profile(gender="x"))
    assert "gender" in msg and "'x'" in msg


def test_importance_range_and_duplicates() -> None:
    assert "importance" in message(lambda: Answer(question_id="q1", value="a", importance=11))
    msg = message(lambda: QuestionnaireResponse(
        user_id=1, bank_version="v", answers=(Answer(question_id="q1", value="a"), Answer(question_id="q1", value="b"))
    ))
    assert "answered twice" in msg and "q1" in msg


def test_pairs_and_times() -> None:
    assert "two different users" in message(lambda: Like(liker=3, likee=3, created_at=NOW))
    msg = message(lambda: Match(user_a=5, user_b=2, day=date(2026, 1, 1), vector_score=0.8, final_score=80,
                                source=ScoreSource.VECTOR))
    assert "user_a 5 must be < user_b 2" in msg
    assert "before created_at" in message(lambda: User(created_at=NOW, last_active_at=NOW - timedelta(days=1)))
    assert "L2-normalised" in message(lambda: ProfileVector(user_id=1, version="v", values=(1.0, 1.0)))


def test_activity_window() -> None:
    u = User(created_at=NOW, last_active_at=NOW)
    assert u.is_active_on(date(2026, 1, 31))
    assert not u.is_active_on(date(2026, 2, 1))
