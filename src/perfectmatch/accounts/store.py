"""What accounts store: credentials, verification tokens, social identities and throttle state.

``AccountStore`` is the port; ``adapters.storage.accounts.SqlAlchemyAccountStore`` implements it on one
connection, and the service runs each operation inside one transaction (``Transactions``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from perfectmatch.accounts.throttle import ThrottleState
from perfectmatch.models import UserId, UserStatus


@dataclass(frozen=True)
class Credentials:
    """The login email of an account, its password hash (``None``: social only) and when it was verified."""

    user_id: UserId
    email: str
    password_hash: str | None
    verified_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TokenRecord:
    """A stored verification token (its hash only)."""

    id: int
    user_id: UserId
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class AccountStore(Protocol):
    """Account rows on one transaction; ``add_credentials``/``add_identity`` raise ``EmailTaken`` on a clash."""

    def create_user(self, email: str | None, now: datetime) -> UserId: ...

    def user_status(self, user_id: UserId) -> UserStatus:
        """The user's status; ``errors.NotFound`` for an unknown id."""
        ...

    def touch_user(self, user_id: UserId, now: datetime) -> None: ...

    def credentials_by_email(self, email: str) -> Credentials | None: ...

    def credentials_of(self, user_id: UserId) -> Credentials | None: ...

    def add_credentials(
        self, user_id: UserId, email: str, password_hash: str | None, verified_at: datetime | None, now: datetime
    ) -> None: ...

    def set_verified(self, user_id: UserId, at: datetime) -> None: ...

    def set_password_hash(self, user_id: UserId, password_hash: str | None) -> None: ...

    def add_token(self, user_id: UserId, token_hash: str, now: datetime, expires_at: datetime) -> int: ...

    def token(self, token_hash: str) -> TokenRecord | None: ...

    def latest_token_at(self, user_id: UserId) -> datetime | None:
        """When the user's newest verification token was issued (``None``: never)."""
        ...

    def use_token(self, token_id: int, at: datetime) -> bool:
        """Mark an unused, unrevoked token used; ``False`` if another request got there first."""
        ...

    def revoke_tokens(self, user_id: UserId, at: datetime) -> int:
        """Revoke every unused token of the user; returns how many."""
        ...

    def identity(self, provider: str, subject: str) -> UserId | None: ...

    def add_identity(self, provider: str, subject: str, user_id: UserId, now: datetime) -> None: ...

    def throttle(self, key: str) -> ThrottleState | None: ...

    def save_throttle(self, key: str, state: ThrottleState) -> None: ...

    def clear_throttle(self, key: str) -> None: ...

    def audit(self, kind: str, user_id: UserId | None, detail: dict[str, Any], at: datetime) -> None: ...


class Transactions(Protocol):
    """Opens a transaction: ``with transactions() as store:`` commits on success, rolls back on error."""

    def __call__(self) -> AbstractContextManager[AccountStore]: ...
