"""``AccountService``: register, verify email, resend, password login with throttling, social login.

Each operation runs in one transaction of the ``AccountStore``; a refusal that must leave a trace (a
failed login: throttle count and audit row) commits that trace first and raises afterwards, while any
other refusal changes nothing. The verification email is sent through the ``Notifier`` port after the
commit, directly rather than through the notification service: it is transactional (no preferences,
quiet hours or batching apply) and carries a secret, so it is never stored in ``notifications``.
Login errors never say whether an email is registered; registration has to (``EmailTaken``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from perfectmatch.accounts.credentials import Hasher, check_password, normalize_email
from perfectmatch.accounts.oidc import IdClaims, OidcProvider, verify_id_token
from perfectmatch.accounts.store import AccountStore, Transactions
from perfectmatch.accounts.throttle import ThrottlePolicy, after_failure, locked_until
from perfectmatch.accounts.tokens import check_secret, issue_token, login_key, verify_signature
from perfectmatch.errors import (
    AccountDisabled,
    AccountLinkRefused,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidIdToken,
    InvalidToken,
    LoginThrottled,
    PerfectMatchError,
)
from perfectmatch.models import Channels, Notification, NotificationType, Priority, UserId, UserStatus
from perfectmatch.ports import Clock, Notifier

log = logging.getLogger("perfectmatch.accounts")

LOGIN = "auth.login"  # the audit kinds of perfectmatch.ops.audit (not imported: the service stays storage-free)
LOGIN_FAILED = "auth.login_failed"
BAD_CREDENTIALS = "email or password is wrong"


@dataclass(frozen=True)
class Registration:
    """A new password account. ``token`` is the verification secret also emailed; show it to nobody else."""

    user_id: UserId
    email: str
    verification_expires_at: datetime
    verification_sent: bool
    token: str = field(repr=False)


@dataclass(frozen=True)
class Verification:
    """A sent (or re-sent) verification email: when its token expires and whether the notifier took it."""

    user_id: UserId
    expires_at: datetime
    sent: bool
    token: str = field(repr=False)


@dataclass(frozen=True)
class Login:
    """A successful login: who, how (``password`` or the provider's name), and for social logins
    whether the account was created or an existing account was linked just now."""

    user_id: UserId
    method: str
    created: bool = False
    linked: bool = False


@dataclass(frozen=True)
class AccountInfo:
    """Login facts of one user (no secrets)."""

    user_id: UserId
    email: str | None
    verified: bool
    has_password: bool


class AccountService:
    """The account operations over an ``AccountStore`` (see the module docstring).

    Parameters
    ----------
    transactions
        Opens one store transaction per call (``adapters.storage.accounts.transactions(engine)``).
    clock
        Token expiry, throttling windows and audit times.
    notifier
        Delivers the verification email (an ``account`` notification with the email channel only).
    secret
        HMAC key of tokens and throttle keys (``PERFECTMATCH_ACCOUNTS__TOKEN_SECRET``, >= 32 chars);
        ``ConfigError`` when missing or short (no insecure fallback).
    providers
        Trusted identity providers for ``social_login``, by name.
    """

    def __init__(
        self,
        transactions: Transactions,
        clock: Clock,
        notifier: Notifier,
        *,
        secret: str | None,
        token_ttl: timedelta = timedelta(hours=24),
        resend_interval: timedelta = timedelta(seconds=60),
        policy: ThrottlePolicy | None = None,
        min_password_length: int = 10,
        hasher: Hasher | None = None,
        providers: Mapping[str, OidcProvider] | None = None,
        leeway_s: float = 60.0,
    ) -> None:
        check_secret(secret)
        self._tx = transactions
        self.clock = clock
        self.notifier = notifier
        self._secret = secret
        self.token_ttl = token_ttl
        self.resend_interval = resend_interval
        self.policy = policy or ThrottlePolicy()
        self.min_password_length = min_password_length
        self.hasher = hasher or Hasher()
        self.providers = dict(providers or {})
        self.leeway_s = leeway_s

    # ------------------------------------------------------------------ registration
    def register(self, email: str, password: str) -> Registration:
        """Create a password account (unverified) and email it a verification token.

        Raises ``InvalidEmailError``, ``WeakPasswordError`` or ``EmailTaken``; nothing is stored then.
        """
        address = normalize_email(email)
        check_password(password, address, min_length=self.min_password_length)
        with self._tx() as store:
            if store.credentials_by_email(address) is not None:
                raise EmailTaken("an account with this email address exists already")
        hashed = self.hasher.hash(password)  # slow on purpose: outside the transaction
        now = self.clock.now()
        with self._tx() as store:
            user_id = store.create_user(address, now)
            store.add_credentials(user_id, address, hashed, None, now)
            token, expires = self._new_token(store, user_id, now)
        sent = self._send(user_id, token, expires)
        return Registration(user_id, address, expires, sent, token)

    def _new_token(self, store: AccountStore, user_id: UserId, now: datetime) -> tuple[str, datetime]:
        issued = issue_token(self._secret)
        expires = now + self.token_ttl
        store.revoke_tokens(user_id, now)
        store.add_token(user_id, issued.token_hash, now, expires)
        return issued.token, expires

    def _send(self, user_id: UserId, token: str, expires: datetime) -> bool:
        note = Notification(
            id=f"verify:{user_id}:{expires.timestamp():.0f}",
            user_id=user_id,
            type=NotificationType.ACCOUNT,
            priority=Priority.HIGH,
            channels=Channels(push=False, in_app=False, email=True),
            created_at=self.clock.now(),
            content={"action": "verify_email", "token": token, "expires_at": expires.isoformat()},
        )
        try:
            self.notifier.send(note)
        except Exception as exc:  # the account exists either way; the user can ask for a resend
            log.warning("verification email for user %s not sent: %s", user_id, type(exc).__name__)
            return False
        return True

    # ------------------------------------------------------------------ verification
    def verify_email(self, token: str) -> UserId:
        """Mark the token's account verified and use the token up; returns the user id.

        Raises ``InvalidToken`` with ``reason`` forged, unknown, expired, used or superseded (nothing changes).
        """
        digest = verify_signature(self._secret, token)
        now = self.clock.now()
        with self._tx() as store:
            record = store.token(digest)
            if record is None:
                raise InvalidToken("unknown", "verification token is unknown (its account may have been erased)")
            if record.used_at is not None:
                raise InvalidToken("used", "verification token was used already")
            if record.revoked_at is not None:
                raise InvalidToken("superseded", "verification token was replaced by a newer one; use the latest")
            if now >= record.expires_at:
                raise InvalidToken(
                    "expired", f"verification token expired at {record.expires_at.isoformat()}; ask for a new one"
                )
            if not store.use_token(record.id, now):
                raise InvalidToken("used", "verification token was used already")
            store.set_verified(record.user_id, now)
            return record.user_id

    def resend_verification(self, email: str) -> Verification | None:
        """A new token for an unverified password account (older ones stop working), emailed.

        Returns ``None`` — and sends nothing — when no unverified account has this address, or when
        its last token is younger than ``resend_interval`` (no email bombing); the answer a caller
        shows should not reveal which case it was.
        """
        address = normalize_email(email)
        now = self.clock.now()
        with self._tx() as store:
            cred = store.credentials_by_email(address)
            if cred is None or cred.verified_at is not None or store.user_status(cred.user_id) != UserStatus.ACTIVE:
                return None
            last = store.latest_token_at(cred.user_id)
            if last is not None and now - last < self.resend_interval:
                return None
            token, expires = self._new_token(store, cred.user_id, now)
        return Verification(cred.user_id, expires, self._send(cred.user_id, token, expires), token)

    def account(self, user_id: UserId) -> AccountInfo:
        """Login facts of ``user_id``; ``NotFound`` for an unknown id."""
        with self._tx() as store:
            store.user_status(user_id)
            cred = store.credentials_of(user_id)
        if cred is None:
            return AccountInfo(user_id, None, False, False)
        return AccountInfo(user_id, cred.email, cred.verified_at is not None, cred.password_hash is not None)

    # ------------------------------------------------------------------ password login
    def login(self, email: str, password: str) -> Login:
        """Check the password; count failures per email and lock after too many (audited either way).

        Raises ``InvalidCredentials`` (unknown email and wrong password alike), ``LoginThrottled`` (also
        for the failure that starts the lock), and — only after a correct password — ``EmailNotVerified``
        or ``AccountDisabled``.
        """
        try:
            address = normalize_email(email)
        except PerfectMatchError:
            raise InvalidCredentials(BAD_CREDENTIALS) from None
        key = login_key(self._secret, address)
        now = self.clock.now()
        with self._tx() as store:
            cred = store.credentials_by_email(address)
            uid = cred.user_id if cred else None
            state = store.throttle(key)
            until = locked_until(state, now)
            failure: PerfectMatchError
            if until is not None:
                failure, reason = LoginThrottled(until), "throttled"
            elif cred is None or not self.hasher.verify(cred.password_hash, password):
                if cred is None:
                    self.hasher.verify(None, password)  # same work as for a known email
                state = after_failure(state, now, self.policy)
                store.save_throttle(key, state)
                failure = (
                    LoginThrottled(state.locked_until) if state.locked_until else InvalidCredentials(BAD_CREDENTIALS)
                )
                reason = "bad_credentials"
            else:
                store.clear_throttle(key)
                status = store.user_status(cred.user_id)
                if status is not UserStatus.ACTIVE:
                    failure, reason = AccountDisabled(f"account is {status.value}"), "disabled"
                elif cred.verified_at is None:
                    failure = EmailNotVerified(
                        "email address not verified yet: use the link we sent, or ask for a new one"
                    )
                    reason = "unverified"
                else:
                    if cred.password_hash and self.hasher.needs_rehash(cred.password_hash):
                        store.set_password_hash(cred.user_id, self.hasher.hash(password))
                    store.touch_user(cred.user_id, now)
                    store.audit(LOGIN, cred.user_id, {"method": "password"}, now)
                    return Login(cred.user_id, "password")
            store.audit(LOGIN_FAILED, uid, {"method": "password", "reason": reason}, now)
        raise failure

    # ------------------------------------------------------------------ social login
    def social_login(self, provider: str, id_token: str, *, nonce: str | None = None) -> Login:
        """Log in with a provider's ID token: the known identity's account, else link or create one.

        A provider-verified email skips our email verification: it links to the password account with
        that email (dropping a password that was never verified, so whoever set it cannot get in) or
        creates a verified account. An email the provider has not verified never links (``AccountLinkRefused``)
        and is not stored as a login email. Raises ``InvalidIdToken`` (audited) for any refused token.
        """
        now = self.clock.now()
        try:
            claims = self._verify(provider, id_token, nonce, now)
        except InvalidIdToken as exc:
            with self._tx() as store:
                store.audit(LOGIN_FAILED, None, {"method": provider[:40], "reason": exc.reason}, now)
            raise
        with self._tx() as store:
            uid = store.identity(provider, claims.subject)
            cred = store.credentials_by_email(claims.email) if uid is None and claims.email else None
            failure: PerfectMatchError | None = None
            if uid is not None:
                failure = self._disabled(store, uid)
                linked = created = False
            elif cred is not None:
                uid, created, linked = cred.user_id, False, True
                failure = self._disabled(store, uid) or (
                    None
                    if claims.email_verified
                    else AccountLinkRefused(
                        "an account with this email exists and the provider has not verified the email; "
                        "log in with the password and link from there"
                    )
                )
                if failure is None:
                    self._link(store, cred.user_id, cred.verified_at is None, provider, claims, now)
            else:
                email = claims.email if claims.email_verified else None
                uid, created, linked = store.create_user(email, now), True, False
                if email is not None:
                    store.add_credentials(uid, email, None, now, now)
                store.add_identity(provider, claims.subject, uid, now)
            if failure is None:
                store.touch_user(uid, now)
                store.audit(LOGIN, uid, {"method": provider, "created": created, "linked": linked}, now)
                return Login(uid, provider, created=created, linked=linked)
            store.audit(LOGIN_FAILED, uid, {"method": provider, "reason": type(failure).__name__}, now)
        raise failure

    def _verify(self, provider: str, id_token: str, nonce: str | None, now: datetime) -> IdClaims:
        spec = self.providers.get(provider)
        if spec is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise InvalidIdToken("provider", f"unknown identity provider {provider[:40]!r} (configured: {known})")
        return verify_id_token(
            id_token,
            keys=spec.keys,
            issuer=spec.issuer,
            audience=spec.audience,
            now=now,
            nonce=nonce,
            leeway_s=self.leeway_s,
        )

    @staticmethod
    def _disabled(store: AccountStore, user_id: UserId) -> PerfectMatchError | None:
        status = store.user_status(user_id)
        return None if status is UserStatus.ACTIVE else AccountDisabled(f"account is {status.value}")

    @staticmethod
    def _link(
        store: AccountStore, user_id: UserId, unverified: bool, provider: str, claims: IdClaims, now: datetime
    ) -> None:
        if unverified:  # whoever chose that password never proved they own the email
            store.set_password_hash(user_id, None)
            store.revoke_tokens(user_id, now)
            store.set_verified(user_id, now)
        store.add_identity(provider, claims.subject, user_id, now)
