"""Email normalization, the password policy and argon2id hashing."""

from __future__ import annotations

import pytest

from perfectmatch.accounts.credentials import Hasher, check_password, normalize_email
from perfectmatch.errors import InvalidEmailError, InvalidInputError, WeakPasswordError


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Ann.Lee+x@Example.COM ") == "ann.lee+x@example.com"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "a b@example.com",
        "ann@@example.com",
        "ann@example..com",
        "x" * 65 + "@example.com",
    ],
)
def test_bad_emails_are_refused_with_the_value(bad: str) -> None:
    with pytest.raises(InvalidEmailError, match="not a valid address") as err:
        normalize_email(bad)
    assert isinstance(err.value, InvalidInputError)


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short1", "too short"),
        ("x" * 129, "too long"),
        (" leading space ok", "whitespace"),
        ("aaaaaaaaaaaa", "4 different"),
        ("Password123", "too easy"),
        ("annlee-2026!", "too easy"),
    ],
)
def test_password_policy_names_the_rule_without_echoing(password: str, rule: str) -> None:
    with pytest.raises(WeakPasswordError, match=rule) as err:
        check_password(password, "annlee@example.com")
    assert password not in str(err.value)


def test_a_reasonable_password_passes() -> None:
    check_password("violet-harbour-42", "annlee@example.com")


def test_hasher_round_trip_and_dummy() -> None:
    h = Hasher.fast()
    stored = h.hash("violet-harbour-42")
    assert stored.startswith("$argon2id$") and "violet" not in stored
    assert h.verify(stored, "violet-harbour-42")
    assert not h.verify(stored, "violet-harbour-43")
    assert not h.verify(None, "violet-harbour-42")
    assert not h.verify("not a hash", "violet-harbour-42")
    assert Hasher().needs_rehash(stored)  # fast parameters are weaker than the defaults
