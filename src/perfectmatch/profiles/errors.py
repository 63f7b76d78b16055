"""Typed errors of profiles and photos (all ``PerfectMatchError``; a refused upload changes nothing).

::

    PerfectMatchError
      ProfileError
        InvalidProfile       basic profile fields that do not validate (also an InvalidInputError)
        InvalidImage         not a usable photo; ``reason`` says why (also an InvalidInputError)
          NoFaceFound        the face check found no face in the photo
        PhotoLimit           the profile already holds the most photos allowed
        InactiveUser         a suspended or erased user's profile cannot change
      NotFound
        UnknownUser          no user with this id
        PhotoNotFound        the user has no photo with this id
"""

from __future__ import annotations

from perfectmatch.errors import InvalidInputError, NotFound, PerfectMatchError


class ProfileError(PerfectMatchError):
    """Base for profile and photo problems."""


class InvalidProfile(ProfileError, InvalidInputError):
    """Basic profile fields that do not validate; the message names each field and value."""


class InvalidImage(ProfileError, InvalidInputError):
    """An upload that is not a usable photo.

    ``reason`` is one of ``empty``, ``too_large``, ``unsupported_type``, ``not_an_image``,
    ``too_many_pixels``, ``too_small``, ``animated``, ``corrupt``, ``duplicate``, ``no_face``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NoFaceFound(InvalidImage):
    """The face check found no face: a profile photo must show the person."""

    def __init__(self, message: str) -> None:
        super().__init__("no_face", message)


class PhotoLimit(ProfileError):
    """The profile already holds ``limit`` photos; delete one first."""

    def __init__(self, user_id: int, limit: int) -> None:
        super().__init__(f"user {user_id} already has {limit} photos, the most allowed; delete one first")
        self.user_id = user_id
        self.limit = limit


class InactiveUser(ProfileError):
    """The user is suspended or erased; their profile and photos cannot change."""

    def __init__(self, user_id: int, status: str) -> None:
        super().__init__(f"user {user_id} is {status}; their profile and photos cannot change")
        self.user_id = user_id
        self.status = status


class UnknownUser(NotFound):
    """No user with this id."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found")
        self.user_id = user_id


class PhotoNotFound(NotFound):
    """The user has no photo with this id."""

    def __init__(self, user_id: int, photo_id: int) -> None:
        super().__init__(f"user {user_id} has no photo {photo_id}")
        self.user_id = user_id
        self.photo_id = photo_id
