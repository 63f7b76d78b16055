"""``HttpJwks`` against a real HTTP server on 127.0.0.1: fetch, cache, refetch on rotation, outages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_idp import AUDIENCE, ISSUER, FakeIdP, JwksServer
from perfectmatch.accounts import OidcProvider, install
from perfectmatch.adapters.auth.jwks import HttpJwks
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.bootstrap import App
from perfectmatch.errors import IdentityProviderUnavailable, InvalidIdToken


@pytest.fixture
def server() -> Iterator[JwksServer]:
    srv = JwksServer()
    yield srv
    srv.close()


def test_keys_are_fetched_once_and_cached(server: JwksServer, idp: FakeIdP) -> None:
    server.doc = idp.jwks()
    clock = FakeClock()
    jwks = HttpJwks(server.url, clock, cache_s=3600, min_refresh_s=60)
    assert jwks.key("rsa-1")["kty"] == "RSA"  # type: ignore[index]
    assert jwks.key("ec-1")["kty"] == "EC"  # type: ignore[index]
    assert server.requests == 1
    clock.advance(3600)
    assert jwks.key("rsa-1") is not None and server.requests == 2
    jwks.close()


def test_unknown_kid_refetches_at_most_once_per_min_refresh(server: JwksServer, idp: FakeIdP) -> None:
    server.doc = {"keys": idp.jwks()["keys"][:1]}
    clock = FakeClock()
    jwks = HttpJwks(server.url, clock, cache_s=3600, min_refresh_s=60)
    assert jwks.key("ec-1") is None and server.requests == 1
    for _ in range(5):  # a flood of made-up kids costs no requests
        assert jwks.key("made-up") is None
    assert server.requests == 1
    server.doc = idp.jwks()  # the provider rotates a key in
    clock.advance(61)
    assert jwks.key("ec-1") is not None and server.requests == 2
    jwks.close()


def test_outage_without_cached_keys_is_a_typed_error(server: JwksServer) -> None:
    server.status = 503
    clock = FakeClock()
    jwks = HttpJwks(server.url, clock, min_refresh_s=60)
    with pytest.raises(IdentityProviderUnavailable, match="signing keys"):
        jwks.key("rsa-1")
    with pytest.raises(IdentityProviderUnavailable):  # no new request before min_refresh_s
        jwks.key("rsa-1")
    assert server.requests == 1
    server.status, server.doc = 200, {"not": "a jwks"}
    clock.advance(60)
    with pytest.raises(IdentityProviderUnavailable, match="not a JWKS"):
        jwks.key("rsa-1")
    assert server.requests == 2
    jwks.close()


def test_outage_with_cached_keys_keeps_them(server: JwksServer, idp: FakeIdP) -> None:
    server.doc = idp.jwks()
    clock = FakeClock()
    jwks = HttpJwks(server.url, clock, cache_s=100, min_refresh_s=10)
    assert jwks.key("rsa-1") is not None
    server.status = 500
    clock.advance(100)
    assert jwks.key("rsa-1") is not None  # stale but usable; retried after min_refresh_s
    clock.advance(5)
    for kid in ("rsa-1", "made-up", "other"):
        jwks.key(kid)
    assert server.requests == 2
    clock.advance(6)
    jwks.key("rsa-1")
    assert server.requests == 3
    jwks.close()


def test_social_login_through_the_http_keys(app: App, server: JwksServer, idp: FakeIdP) -> None:
    server.doc = idp.jwks()
    keys = HttpJwks(server.url, app.clock)
    service = install(app, providers={"idp": OidcProvider(ISSUER, AUDIENCE, keys)})
    assert service.social_login("idp", idp.token(app.clock.now())).created
    other = FakeIdP()  # same kid names, different keys: signature refused
    with pytest.raises(InvalidIdToken) as err:
        service.social_login("idp", other.token(app.clock.now()))
    assert err.value.reason == "signature"
    keys.close()
