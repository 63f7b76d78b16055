"""Email normalization, the password policy and argon2id password hashing.

Emails are trimmed and lower-cased (the whole address: providers treat local parts case-insensitively
in practice, and one person must not hold two accounts by changing case). The password policy follows
NIST SP 800-63B: a minimum length, a maximum (hashing cost), no composition rules, and refusal of
passwords that are common or built from the email address. Hashes are argon2id PHC strings carrying
their own parameters, so stronger parameters later only rehash at the next successful login.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from perfectmatch.errors import InvalidEmailError, WeakPasswordError

MAX_PASSWORD_LENGTH = 128
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd",
        "p@ssw0rd",
        "qwerty",
        "qwertyuiop",
        "qwerty123",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "123456789",
        "1234567890",
        "12345678910",
        "0123456789",
        "9876543210",
        "iloveyou",
        "iloveyou1",
        "letmein123",
        "welcome123",
        "abc1234567",
        "abcdefghij",
        "football123",
        "baseball123",
        "sunshine123",
        "princess123",
        "dragon1234",
        "monkey1234",
        "trustno1",
        "perfectmatch",
        "perfectmatch1",
        "loveislove",
        "mypassword",
        "secret1234",
        "changeme123",
        "administrator",
    }
)


def normalize_email(raw: str) -> str:
    """``raw`` trimmed and lower-cased; ``InvalidEmailError`` if it is not a plausible address."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email) or ".." in email:
        shown = email if len(email) <= 60 else email[:57] + "..."
        raise InvalidEmailError(f"email {shown!r} is not a valid address (expected name@domain.tld, at most 254 chars)")
    return email


def check_password(password: str, email: str, *, min_length: int = 10) -> None:
    """Raise ``WeakPasswordError`` naming the rule ``password`` breaks (never echoing it)."""
    if len(password) < min_length:
        raise WeakPasswordError(f"password too short: at least {min_length} characters are needed")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"password too long: at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise WeakPasswordError("password must not start or end with whitespace")
    folded = password.casefold()
    if len(set(folded)) < 4:
        raise WeakPasswordError("password needs at least 4 different characters")
    local = email.split("@", 1)[0].casefold()
    if folded in COMMON_PASSWORDS or folded == email.casefold() or (len(local) >= 4 and local in folded):
        raise WeakPasswordError("password is too easy to guess (a common password or built from the email)")


class Hasher:
    """argon2id hashing; ``Hasher.fast()`` uses tiny parameters and is for tests only."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._ph = hasher or PasswordHasher()  # RFC 9106 low-memory profile: t=3, m=64 MiB, p=4
        self._dummy = self._ph.hash("not a password of anyone")

    @classmethod
    def fast(cls) -> Hasher:
        return cls(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; with no stored hash a dummy one is checked (same time)."""
        try:
            return bool(self._ph.verify(stored or self._dummy, password)) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return bool(self._ph.check_needs_rehash(stored))
