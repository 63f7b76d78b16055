"""Profiles and photos (journey 1): the basic profile, photo uploads through a blob store with real
image checks and a face check, and the profile completion status."""

from __future__ import annotations

from perfectmatch.profiles.basic import BasicProfile, save_basic_profile
from perfectmatch.profiles.errors import (
    InactiveUser,
    InvalidImage,
    InvalidProfile,
    NoFaceFound,
    PhotoLimit,
    PhotoNotFound,
    ProfileError,
    UnknownUser,
)
from perfectmatch.profiles.images import CheckedImage, check_image
from perfectmatch.profiles.photos import Photo, add_photo, delete_photo, list_photos, photo_bytes, reorder_photos
from perfectmatch.profiles.status import CompletionStatus, completion_status

__all__ = [
    "BasicProfile",
    "CheckedImage",
    "CompletionStatus",
    "InactiveUser",
    "InvalidImage",
    "InvalidProfile",
    "NoFaceFound",
    "Photo",
    "PhotoLimit",
    "PhotoNotFound",
    "ProfileError",
    "UnknownUser",
    "add_photo",
    "check_image",
    "completion_status",
    "delete_photo",
    "list_photos",
    "photo_bytes",
    "reorder_photos",
    "save_basic_profile",
]
