"""ID-token verification: only genuine, current tokens for us from the configured issuer pass."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fake_idp import AUDIENCE, ISSUER, FakeIdP
from perfectmatch.accounts.oidc import verify_id_token
from perfectmatch.adapters.auth.jwks import StaticJwks
from perfectmatch.errors import InvalidIdToken

NOW = datetime(2026, 5, 1, 9, tzinfo=UTC)
IDP = FakeIdP()
KEYS = StaticJwks(IDP.jwks())


def verify(token: str, *, now: datetime = NOW, nonce: str | None = None) -> object:
    return verify_id_token(token, keys=KEYS, issuer=ISSUER, audience=AUDIENCE, now=now, nonce=nonce, leeway_s=60)


def reason(token: str, **kw: object) -> str:
    with pytest.raises(InvalidIdToken) as err:
        verify(token, **kw)  # type: ignore[arg-type]
    return err.value.reason


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_genuine_token_gives_its_claims(alg: str) -> None:
    claims = verify(IDP.token(NOW, alg=alg, email="Ann@Example.com", nonce="n-1"), nonce="n-1")
    assert claims.subject == "subject-1" and claims.issuer == ISSUER  # type: ignore[attr-defined]
    assert claims.email == "ann@example.com" and claims.email_verified  # type: ignore[attr-defined]


def test_unverified_or_missing_email() -> None:
    assert not verify(IDP.token(NOW, email_verified=False)).email_verified  # type: ignore[attr-defined]
    assert verify(IDP.token(NOW, email_verified="true")).email_verified  # type: ignore[attr-defined]
    nomail = verify(IDP.token(NOW, email=None))
    assert nomail.email is None and not nomail.email_verified  # type: ignore[attr-defined]


def test_token_signed_by_another_key_is_refused() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert reason(IDP.token(NOW, key=other)) == "signature"


def test_wrong_issuer_audience_and_azp() -> None:
    assert reason(IDP.token(NOW, iss="https://evil.example")) == "issuer"
    assert reason(IDP.token(NOW, aud="someone-else")) == "audience"
    assert reason(IDP.token(NOW, aud=[AUDIENCE, "other"], azp="other")) == "audience"
    assert verify(IDP.token(NOW, aud=[AUDIENCE, "other"], azp=AUDIENCE))


def test_expiry_and_future_tokens_use_the_given_clock() -> None:
    token = IDP.token(NOW)  # exp = NOW + 600 s
    assert verify(token, now=NOW + timedelta(seconds=650))  # inside the leeway
    assert reason(token, now=NOW + timedelta(seconds=661)) == "expired"
    assert reason(token, now=NOW - timedelta(seconds=120)) == "not_yet_valid"
    assert reason(IDP.token(NOW, nbf=int(NOW.timestamp()) + 300)) == "not_yet_valid"
    assert reason(IDP.token(NOW, exp=None)) == "missing_claim"


def _unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    def b64(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(claims)}."


def test_alg_none_is_refused() -> None:
    token = _unsigned({"alg": "none", "kid": "rsa-1", "typ": "JWT"}, IDP.claims(NOW))
    assert reason(token) == "algorithm"


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the provider's public key."""
    token = _hs256(IDP.public_pem(), IDP.claims(NOW))
    assert reason(token) == "algorithm"


def _hs256(secret: bytes, claims: dict[str, object]) -> str:
    import hashlib
    import hmac

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'rsa-1'}).encode())}.{b64(json.dumps(claims).encode())}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def test_unknown_kid_and_key_type_mismatch() -> None:
    assert reason(IDP.token(NOW, kid="rotated-away")) == "unknown_key"
    assert reason(IDP.token(NOW, kid="")) == "unknown_key"
    # an RS256 header pointing at the EC key: refused before any signature check
    assert reason(IDP.token(NOW, alg="RS256", kid="ec-1")) == "algorithm"


def test_nonce_must_match_when_given() -> None:
    assert reason(IDP.token(NOW, nonce="abc"), nonce="abd") == "nonce"
    assert reason(IDP.token(NOW), nonce="abc") == "nonce"


def test_garbage_and_missing_subject() -> None:
    assert reason("not.a.jwt") == "malformed"
    assert reason("") == "malformed"
    assert reason(IDP.token(NOW, sub=None)) == "missing_claim"
    assert reason(jwt.encode({"x": 1}, IDP.rsa, algorithm="RS256", headers={"kid": "rsa-1"})) == "missing_claim"
