"""The account service of one ``App``, built from ``PERFECTMATCH_ACCOUNTS__*`` on first use.

Kept in ``app.extras["accounts"]``; ``install`` replaces it (tests pass a fast hasher or static keys).
Each configured OIDC provider gets an ``HttpJwks`` on its ``jwks_url``, cached for ``jwks_cache_s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from perfectmatch.accounts.credentials import Hasher
from perfectmatch.accounts.oidc import OidcProvider
from perfectmatch.accounts.service import AccountService
from perfectmatch.accounts.throttle import ThrottlePolicy


def install(
    app: Any, *, hasher: Hasher | None = None, providers: Mapping[str, OidcProvider] | None = None
) -> AccountService:
    """Build the account service for ``app`` (replacing an earlier one) and return it.

    Raises ``ConfigError`` when ``PERFECTMATCH_ACCOUNTS__TOKEN_SECRET`` is unset or shorter than 32 chars.
    """
    from perfectmatch.adapters.auth.jwks import HttpJwks
    from perfectmatch.adapters.storage.accounts import transactions

    cfg = app.settings.accounts
    if providers is None:
        providers = {
            name: OidcProvider(p.issuer, p.audience, HttpJwks(p.jwks_url, app.clock, cache_s=cfg.jwks_cache_s))
            for name, p in cfg.oidc_providers.items()
        }
    secret = cfg.token_secret.get_secret_value() if cfg.token_secret is not None else None
    service = AccountService(
        transactions(app.engine),
        app.clock,
        app.notifier,
        secret=secret,
        token_ttl=timedelta(seconds=cfg.verify_token_ttl_s),
        resend_interval=timedelta(seconds=cfg.resend_interval_s),
        min_password_length=cfg.min_password_length,
        policy=ThrottlePolicy(
            cfg.max_login_failures, timedelta(seconds=cfg.failure_window_s), timedelta(seconds=cfg.lockout_s)
        ),
        hasher=hasher,
        providers=providers,
        leeway_s=cfg.oidc_leeway_s,
    )
    app.extras["accounts"] = service
    return service


def accounts(app: Any) -> AccountService:
    """The app's account service, built on first use."""
    service = app.extras.get("accounts")
    return service if isinstance(service, AccountService) else install(app)


def login_key_of(app: Any) -> Any:
    """``email -> throttle key`` for erasing a user's throttle row, or ``None`` without a usable secret."""
    from perfectmatch.accounts.tokens import MIN_SECRET_LENGTH, login_key

    token_secret = app.settings.accounts.token_secret
    secret = token_secret.get_secret_value() if token_secret is not None else None
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return None
    return lambda email: login_key(secret, email)
