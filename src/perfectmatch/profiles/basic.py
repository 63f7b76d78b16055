"""Basic profile: what a new user fills in before photos and the questionnaire (journey 1, step 3).

It is stored as the existing ``Profile`` and ``Preferences`` aggregates (what the daily batch and
discovery read); the profile's photo list mirrors the uploaded photos (``profiles.photos``), in display order.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field, ValidationError

from perfectmatch.adapters.storage import photos as photo_rows
from perfectmatch.errors import describe_validation_error
from perfectmatch.models import (
    MAX_AGE,
    MIN_AGE,
    Frozen,
    Gender,
    GeoPoint,
    Preferences,
    Profile,
    RelationshipGoal,
    UserStatus,
)
from perfectmatch.profiles.errors import InactiveUser, InvalidProfile, UnknownUser


class BasicProfile(Frozen):
    """The basic profile form: who the user is and whom they want to meet."""

    display_name: str = Field(min_length=1, max_length=80)
    birth_date: date
    gender: Gender
    location: GeoPoint
    bio: str = Field(default="", max_length=5000)
    genders_sought: frozenset[Gender] = Field(min_length=1)
    age_min: int = Field(default=MIN_AGE, ge=MIN_AGE, le=MAX_AGE)
    age_max: int = Field(default=99, ge=MIN_AGE, le=MAX_AGE)
    radius_km: float = Field(default=50.0, gt=0.0, le=20_000.0)
    goal: RelationshipGoal = RelationshipGoal.LONG_TERM

    @classmethod
    def parse(cls, data: dict[str, Any]) -> BasicProfile:
        """Build from plain data (a form, JSON); ``InvalidProfile`` names every bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidProfile(describe_validation_error(exc)) from None


def save_basic_profile(app: Any, user_id: int, basic: BasicProfile | dict[str, Any]) -> tuple[Profile, Preferences]:
    """Create or update ``user_id``'s profile and preferences from the basic profile form.

    Raises
    ------
    InvalidProfile
        A field does not validate (under 18, empty name, inverted age range ...); nothing is written.
    UnknownUser, InactiveUser
        No such user, or a suspended or erased one.
    """
    form = basic if isinstance(basic, BasicProfile) else BasicProfile.parse(basic)
    with app.uow as uow:
        user = uow.users.find(user_id)
        if user is None:
            raise UnknownUser(user_id)
        if user.status is not UserStatus.ACTIVE:
            raise InactiveUser(user_id, user.status.value)
        keys = tuple(r["blob_key"] for r in photo_rows.photos_of(uow.connection, user_id))
        old_prefs = uow.preferences.find(user_id)
        try:
            profile = Profile(
                user_id=user_id,
                display_name=form.display_name,
                birth_date=form.birth_date,
                gender=form.gender,
                location=form.location,
                bio=form.bio,
                photos=keys,
            )
            prefs = Preferences(
                user_id=user_id,
                genders_sought=form.genders_sought,
                age_min=form.age_min,
                age_max=form.age_max,
                radius_km=form.radius_km,
                goal=form.goal,
                dealbreakers=old_prefs.dealbreakers if old_prefs is not None else frozenset(),
            )
        except ValidationError as exc:
            raise InvalidProfile(describe_validation_error(exc)) from None
        uow.profiles.add(profile)
        uow.preferences.add(prefs)
        uow.commit()
    return profile, prefs
