"""``SqlAlchemyAccountStore``: the accounts port on one SQLAlchemy connection, plus erase/export helpers.

``transactions(engine)`` gives the service one store per transaction. Unique clashes (login email,
social identity) run inside a savepoint so the surrounding transaction stays usable on PostgreSQL, and
become ``EmailTaken``. ``use_token`` is a conditional update, so of two concurrent uses only one wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from perfectmatch.accounts.store import Credentials, TokenRecord
from perfectmatch.accounts.throttle import ThrottleState
from perfectmatch.adapters.storage import schema as s
from perfectmatch.errors import EmailTaken
from perfectmatch.models import Tier, UserId, UserStatus
from perfectmatch.ops.audit import audit
from perfectmatch.ops.containment import user_status


class SqlAlchemyAccountStore:
    """Account rows through ``conn`` (the caller owns the transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _insert_unique(self, stmt: Any, what: str) -> Any:
        try:
            with self.conn.begin_nested():
                return self.conn.execute(stmt)
        except IntegrityError:
            raise EmailTaken(what) from None

    # -------------------------------------------------------------- users
    def create_user(self, email: str | None, now: datetime) -> UserId:
        stmt = insert(s.users).values(
            email=email, status=UserStatus.ACTIVE.value, tier=Tier.FREE.value, created_at=now, last_active_at=now
        )
        result = self._insert_unique(stmt, "an account with this email address exists already")
        return int(result.inserted_primary_key[0])

    def user_status(self, user_id: UserId) -> UserStatus:
        return user_status(self.conn, user_id)

    def touch_user(self, user_id: UserId, now: datetime) -> None:
        self.conn.execute(update(s.users).where(s.users.c.id == user_id).values(last_active_at=now))

    # -------------------------------------------------------------- credentials
    @staticmethod
    def _credentials(row: Any) -> Credentials | None:
        return (
            None
            if row is None
            else Credentials(row.user_id, row.email, row.password_hash, row.verified_at, row.created_at)
        )

    def credentials_by_email(self, email: str) -> Credentials | None:
        c = s.credentials.c
        return self._credentials(self.conn.execute(select(s.credentials).where(c.email == email)).first())

    def credentials_of(self, user_id: UserId) -> Credentials | None:
        c = s.credentials.c
        return self._credentials(self.conn.execute(select(s.credentials).where(c.user_id == user_id)).first())

    def add_credentials(
        self, user_id: UserId, email: str, password_hash: str | None, verified_at: datetime | None, now: datetime
    ) -> None:
        stmt = insert(s.credentials).values(
            user_id=user_id, email=email, password_hash=password_hash, verified_at=verified_at, created_at=now
        )
        self._insert_unique(stmt, "an account with this email address exists already")

    def set_verified(self, user_id: UserId, at: datetime) -> None:
        c = s.credentials.c
        self.conn.execute(
            update(s.credentials).where(c.user_id == user_id, c.verified_at.is_(None)).values(verified_at=at)
        )

    def set_password_hash(self, user_id: UserId, password_hash: str | None) -> None:
        c = s.credentials.c
        self.conn.execute(update(s.credentials).where(c.user_id == user_id).values(password_hash=password_hash))

    # -------------------------------------------------------------- tokens
    def add_token(self, user_id: UserId, token_hash: str, now: datetime, expires_at: datetime) -> int:
        result = self.conn.execute(
            insert(s.email_tokens).values(user_id=user_id, token_hash=token_hash, created_at=now, expires_at=expires_at)
        )
        return int(result.inserted_primary_key[0])

    def token(self, token_hash: str) -> TokenRecord | None:
        t = s.email_tokens.c
        row = self.conn.execute(select(s.email_tokens).where(t.token_hash == token_hash)).first()
        return (
            None
            if row is None
            else TokenRecord(row.id, row.user_id, row.created_at, row.expires_at, row.used_at, row.revoked_at)
        )

    def latest_token_at(self, user_id: UserId) -> datetime | None:
        t = s.email_tokens.c
        return self.conn.execute(select(func.max(t.created_at)).where(t.user_id == user_id)).scalar()

    def use_token(self, token_id: int, at: datetime) -> bool:
        t = s.email_tokens.c
        result = self.conn.execute(
            update(s.email_tokens)
            .where(t.id == token_id, t.used_at.is_(None), t.revoked_at.is_(None))
            .values(used_at=at)
        )
        return result.rowcount == 1

    def revoke_tokens(self, user_id: UserId, at: datetime) -> int:
        t = s.email_tokens.c
        result = self.conn.execute(
            update(s.email_tokens)
            .where(t.user_id == user_id, t.used_at.is_(None), t.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(result.rowcount or 0)

    # -------------------------------------------------------------- identities
    def identity(self, provider: str, subject: str) -> UserId | None:
        i = s.external_identities.c
        uid = self.conn.execute(select(i.user_id).where(i.provider == provider, i.subject == subject)).scalar()
        return None if uid is None else int(uid)

    def add_identity(self, provider: str, subject: str, user_id: UserId, now: datetime) -> None:
        stmt = insert(s.external_identities).values(provider=provider, subject=subject, user_id=user_id, created_at=now)
        self._insert_unique(stmt, f"this {provider} identity is linked to an account already")

    # -------------------------------------------------------------- throttle and audit
    def throttle(self, key: str) -> ThrottleState | None:
        row = self.conn.execute(select(s.login_throttle).where(s.login_throttle.c.key == key)).first()
        return None if row is None else ThrottleState(row.failures, row.last_failure, row.locked_until)

    def save_throttle(self, key: str, state: ThrottleState) -> None:
        values = {"failures": state.failures, "last_failure": state.last_failure, "locked_until": state.locked_until}
        done = self.conn.execute(update(s.login_throttle).where(s.login_throttle.c.key == key).values(**values))
        if done.rowcount == 0:
            self.conn.execute(insert(s.login_throttle).values(key=key, **values))

    def clear_throttle(self, key: str) -> None:
        self.conn.execute(delete(s.login_throttle).where(s.login_throttle.c.key == key))

    def audit(self, kind: str, user_id: UserId | None, detail: dict[str, Any], at: datetime) -> None:
        audit(self.conn, kind, user_id, detail, actor="accounts", at=at)


def transactions(engine: Engine) -> Callable[[], Any]:
    """A ``Transactions`` factory: each call opens a transaction on ``engine`` and yields a store on it."""

    @contextmanager
    def open_store() -> Iterator[SqlAlchemyAccountStore]:
        with engine.begin() as conn:
            yield SqlAlchemyAccountStore(conn)

    return open_store


def export_account(conn: Connection, user_id: UserId) -> dict[str, Any]:
    """The user's login data for a data export: email, verification, providers; never hashes or tokens."""
    c, t, i = s.credentials.c, s.email_tokens.c, s.external_identities.c
    cred = conn.execute(
        select(c.email, c.verified_at, c.created_at, c.password_hash.is_not(None).label("has_password")).where(
            c.user_id == user_id
        )
    ).first()
    tokens = conn.execute(
        select(t.created_at, t.expires_at, t.used_at, t.revoked_at).where(t.user_id == user_id).order_by(t.id)
    ).all()
    idents = conn.execute(select(i.provider, i.subject, i.created_at).where(i.user_id == user_id).order_by(i.id)).all()
    return {
        "credentials": None if cred is None else dict(cred._mapping),
        "verification_tokens": [dict(r._mapping) for r in tokens],
        "external_identities": [dict(r._mapping) for r in idents],
    }


def erase_account(conn: Connection, user_id: UserId, login_key: Callable[[str], str] | None) -> dict[str, int]:
    """Delete the user's credentials, tokens, identities and (given ``login_key``) throttle row; row counts."""
    email = conn.execute(select(s.credentials.c.email).where(s.credentials.c.user_id == user_id)).scalar()
    done = {"login_throttle": 0}
    if email is not None and login_key is not None:
        key = login_key(email)
        done["login_throttle"] = int(
            conn.execute(delete(s.login_throttle).where(s.login_throttle.c.key == key)).rowcount or 0
        )
    for name, table in (
        ("credentials", s.credentials),
        ("email_tokens", s.email_tokens),
        ("external_identities", s.external_identities),
    ):
        done[name] = int(conn.execute(delete(table).where(table.c.user_id == user_id)).rowcount or 0)
    return done


def purge_account_state(
    conn: Connection, now: datetime, *, stale_after: timedelta, token_days: int = 30
) -> dict[str, int]:
    """Delete throttle rows that no longer count or lock (older than ``stale_after``, the failure window)
    and verification tokens that were used, superseded or expired and are older than ``token_days``."""
    lt, t = s.login_throttle.c, s.email_tokens.c
    throttle = delete(s.login_throttle).where(
        lt.last_failure < now - stale_after, or_(lt.locked_until.is_(None), lt.locked_until <= now)
    )
    tokens = delete(s.email_tokens).where(
        t.created_at < now - timedelta(days=token_days),
        or_(t.used_at.is_not(None), t.revoked_at.is_not(None), t.expires_at <= now),
    )
    return {
        "login_throttle": int(conn.execute(throttle).rowcount or 0),
        "email_tokens": int(conn.execute(tokens).rowcount or 0),
    }
