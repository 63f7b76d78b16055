"""Email-verification tokens: a random secret signed with HMAC-SHA256; only a hash is ever stored.

A token reads ``v1.<nonce>.<signature>`` (URL-safe base64, no padding). The signature lets a forged
or mangled token be refused before any database lookup; the database keeps ``sha256(token)`` so a
leaked table cannot be replayed. Expiry and single use are enforced by the stored row. The same
secret keys ``login_key``, which names a login email in the throttle table without storing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from perfectmatch.errors import ConfigError, InvalidToken

VERSION = "v1"
MIN_SECRET_LENGTH = 32
_NONCE_BYTES = 32


@dataclass(frozen=True)
class IssuedToken:
    """A new token (give it to the user, never store it) and the hash to store."""

    token: str = field(repr=False)
    token_hash: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_secret(secret: str | None) -> bytes:
    """The secret as bytes; ``ConfigError`` if unset or shorter than ``MIN_SECRET_LENGTH`` characters."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"PERFECTMATCH_ACCOUNTS__TOKEN_SECRET must be set to at least {MIN_SECRET_LENGTH} random characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return secret.encode()


def _sign(key: bytes, nonce: bytes) -> bytes:
    return hmac.new(key, b"perfectmatch:verify-email:" + VERSION.encode() + b":" + nonce, hashlib.sha256).digest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(secret: str | None) -> IssuedToken:
    """A fresh random token signed with ``secret``."""
    key = check_secret(secret)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    token = f"{VERSION}.{_b64(nonce)}.{_b64(_sign(key, nonce))}"
    return IssuedToken(token=token, token_hash=token_hash(token))


def verify_signature(secret: str | None, token: str) -> str:
    """The stored-hash key of ``token`` if we signed it; ``InvalidToken("forged")`` otherwise.

    Surrounding whitespace is ignored (a pasted link often brings a newline); nothing else is.
    """
    key = check_secret(secret)
    forged = InvalidToken("forged", "verification token is not valid (damaged or not issued by us)")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != VERSION or not all(parts):
        raise forged
    try:
        nonce, sig = _unb64(parts[1]), _unb64(parts[2])
    except (ValueError, UnicodeEncodeError):
        raise forged from None
    # the canonical re-encoding must match too, so no two strings are the same token
    if len(nonce) != _NONCE_BYTES or _b64(nonce) != parts[1] or _b64(sig) != parts[2]:
        raise forged
    if not hmac.compare_digest(sig, _sign(key, nonce)):
        raise forged
    return token_hash(token.strip())


def login_key(secret: str | None, email: str) -> str:
    """The throttle-table key of a (normalized) login email: HMAC, so no address is stored."""
    return hmac.new(check_secret(secret), b"perfectmatch:login:" + email.encode(), hashlib.sha256).hexdigest()
