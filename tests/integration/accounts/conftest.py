"""An app on each backend with accounts wired: fake clock, recording notifier, fast hasher, a fake IdP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from fake_idp import AUDIENCE, ISSUER, SECRET, FakeIdP
from perfectmatch.accounts import AccountService, Hasher, OidcProvider, install
from perfectmatch.adapters.auth.jwks import StaticJwks
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def settings_for(db_url: str, **accounts: object) -> Settings:
    return Settings(
        _env_file=None, db_url=db_url, cache={"backend": "none"}, accounts={"token_secret": SECRET, **accounts}
    )


@pytest.fixture(scope="session")
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    app = build_app(settings_for(db_url), clock=FakeClock(NOW), notifier=RecordingNotifier())
    yield app
    app.close()


@pytest.fixture
def service(app: App, idp: FakeIdP) -> AccountService:
    return install(app, hasher=Hasher.fast(), providers={"idp": OidcProvider(ISSUER, AUDIENCE, StaticJwks(idp.jwks()))})
