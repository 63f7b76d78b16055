"""Verify an OpenID Connect ID token (a JWT) against the provider's published keys.

Checks, in order: the header names RS256 or ES256 (``none`` and HMAC algorithms are refused, so a
public key can never be used as an HMAC secret), its ``kid`` is one of the provider's keys of the
matching type, the signature, then the claims: ``iss`` equals the issuer, ``aud`` contains our client
id (and ``azp`` is us when there are several audiences), ``exp``/``iat``/``nbf`` against the given
time with a small leeway (the app clock, not the wall clock, so tests can move time), and ``nonce``
when one was sent. Every refusal is an ``InvalidIdToken`` whose ``reason`` names the failed check.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from jwt import PyJWK

from perfectmatch.accounts.credentials import normalize_email
from perfectmatch.errors import InvalidEmailError, InvalidIdToken
from perfectmatch.ports import JwksProvider

ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}  # algorithm -> the JWK key type it must be verified with


@dataclass(frozen=True)
class OidcProvider:
    """A trusted identity provider: the exact issuer, our client id there, and its signing keys."""

    issuer: str
    audience: str
    keys: JwksProvider


@dataclass(frozen=True)
class IdClaims:
    """What we use from a verified ID token. ``email`` is normalized-lower-case or ``None``."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool


def _refuse(reason: str, message: str) -> InvalidIdToken:
    return InvalidIdToken(reason, f"ID token refused: {message}")


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _refuse("malformed", f"not a JWT ({exc})") from None


def _key(header: dict[str, Any], keys: JwksProvider) -> Any:
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise _refuse("algorithm", f"algorithm {alg!r} is not accepted (only {', '.join(ALGORITHMS)})")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _refuse("unknown_key", "the token names no key id (kid)")
    jwk = keys.key(kid)
    if jwk is None:
        raise _refuse("unknown_key", f"the provider publishes no key {kid!r}")
    if jwk.get("kty") != ALGORITHMS[alg] or jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        raise _refuse("algorithm", f"key {kid!r} is not a {alg} signing key")
    try:
        return PyJWK(dict(jwk), algorithm=alg).key
    except jwt.PyJWTError as exc:
        raise _refuse("unknown_key", f"key {kid!r} is unusable ({exc})") from None


def _number(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse("missing_claim", f"claim {name!r} is missing or not a number")
    return float(value)


def _check_times(claims: dict[str, Any], now: datetime, leeway_s: float) -> None:
    t = now.timestamp()
    exp = _number(claims, "exp", required=True)
    iat = _number(claims, "iat", required=True)
    nbf = _number(claims, "nbf", required=False)
    if t > exp + leeway_s:  # type: ignore[operator]
        raise _refuse("expired", f"expired at {datetime.fromtimestamp(exp, now.tzinfo).isoformat()}")  # type: ignore[arg-type]
    if iat > t + leeway_s or (nbf is not None and nbf > t + leeway_s):  # type: ignore[operator]
        raise _refuse("not_yet_valid", "issued in the future or not valid yet")


def verify_id_token(
    token: str,
    *,
    keys: JwksProvider,
    issuer: str,
    audience: str,
    now: datetime,
    nonce: str | None = None,
    leeway_s: float = 60.0,
) -> IdClaims:
    """The verified claims of ``token``; ``InvalidIdToken`` (with ``reason``) if any check fails."""
    header = _header(token)
    key, alg = _key(header, keys), header["alg"]
    options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["iss", "aud", "sub"]}
    try:
        claims = jwt.decode(token, key=key, algorithms=[alg], audience=audience, issuer=issuer, options=options)
    except jwt.InvalidSignatureError:
        raise _refuse("signature", "the signature does not verify with the provider's key") from None
    except jwt.InvalidAudienceError:
        raise _refuse("audience", f"not issued for client {audience!r}") from None
    except jwt.InvalidIssuerError:
        raise _refuse("issuer", f"not issued by {issuer!r}") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _refuse("missing_claim", f"claim {exc.claim!r} is missing") from None
    except jwt.PyJWTError as exc:
        raise _refuse("malformed", str(exc)) from None
    _check_times(claims, now, leeway_s)
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != audience:
        raise _refuse("audience", "several audiences and the authorized party is not us")
    if nonce is not None:
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise _refuse("nonce", "the nonce does not match the one sent with the login request")
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise _refuse("missing_claim", "claim 'sub' is not a usable subject")
    email = _email(claims.get("email"))
    verified = claims.get("email_verified") in (True, "true")  # some providers send the string
    return IdClaims(issuer=issuer, subject=subject, email=email, email_verified=verified and email is not None)


def _email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return normalize_email(value)
    except InvalidEmailError:
        return None
