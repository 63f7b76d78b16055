"""``SqlAlchemyBillingStore``: the billing core's ``BillingStore`` on the app's database connection.

Accounts are rows of ``subscriptions`` (one per user), the ledger is ``billing_payments`` (a partial
unique index allows one successful payment per period key), state changes go to
``billing_transitions``, and every webhook delivery to ``webhook_events``. Accounts are loaded with
an empty ``history``; saving one appends the transitions it gained since it was loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from perfectmatch.adapters.storage import schema as s
from perfectmatch.billing.store import Payment, WebhookRecord
from perfectmatch.billing.subscription import Account, Card, State
from perfectmatch.errors import BillingError
from perfectmatch.models import Preferences, UserId
from perfectmatch.ports import Money, UnitOfWork

_SUB = s.subscriptions
_PAY = s.billing_payments


class SqlAlchemyBillingStore:
    """A ``billing.store.BillingStore`` inside the caller's transaction (``uow.connection``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._saved: dict[UserId, tuple[Any, ...]] = {}  # history already written, per user

    # ------------------------------------------------------------ accounts
    def account(self, user_id: UserId) -> Account | None:
        row = self._conn.execute(select(_SUB).where(_SUB.c.user_id == user_id).order_by(_SUB.c.id.desc())).first()
        return self._loaded(_account(row._mapping)) if row else None

    def account_by_provider_ref(self, provider_ref: str) -> Account | None:
        row = self._conn.execute(select(_SUB).where(_SUB.c.provider_ref == provider_ref)).first()
        return self._loaded(_account(row._mapping)) if row else None

    def accounts(self) -> Iterator[Account]:
        for row in self._conn.execute(select(_SUB).order_by(_SUB.c.user_id)).all():
            yield self._loaded(_account(row._mapping))

    def _loaded(self, account: Account) -> Account:
        self._saved[account.user_id] = ()
        return account

    def save_account(self, account: Account) -> None:
        values = _row(account)
        existing = self._conn.execute(select(_SUB.c.id).where(_SUB.c.user_id == account.user_id)).scalar()
        if existing is None:
            self._conn.execute(insert(_SUB).values(**values))
        else:
            self._conn.execute(update(_SUB).where(_SUB.c.id == existing).values(**values))
        done = self._saved.get(account.user_id, ())
        fresh = account.history[len(done):] if account.history[:len(done)] == done else account.history
        if fresh:
            self._conn.execute(insert(s.billing_transitions), [
                {"user_id": account.user_id, "at": at, "from_state": old.value, "event": event.value,
                 "to_state": new.value} for at, old, event, new in fresh
            ])
        self._saved[account.user_id] = account.history

    def transitions(self, user_id: UserId | None = None) -> list[tuple[UserId, datetime, str, str, str]]:
        """Every recorded state change ``(user_id, at, from_state, event, to_state)`` in order."""
        t = s.billing_transitions
        q = select(t.c.user_id, t.c.at, t.c.from_state, t.c.event, t.c.to_state).order_by(t.c.id)
        if user_id is not None:
            q = q.where(t.c.user_id == user_id)
        return [tuple(r) for r in self._conn.execute(q)]

    def sync_tiers(self, now: datetime) -> int:
        """Set ``users.tier`` from billing at ``now`` (what the daily batch reads); returns rows changed."""
        premium_states = ("active", "past_due", "canceling")
        paid = (select(_SUB.c.user_id).where(_SUB.c.state.in_(premium_states), _SUB.c.period_start <= now,
                                             _SUB.c.period_end > now))
        u = s.users
        up = self._conn.execute(update(u).where(u.c.id.in_(paid), u.c.tier != "premium").values(tier="premium"))
        down = self._conn.execute(update(u).where(u.c.id.in_(select(_SUB.c.user_id)), u.c.id.not_in(paid),
                                                  u.c.tier != "free").values(tier="free"))
        return int(up.rowcount or 0) + int(down.rowcount or 0)

    # ------------------------------------------------------------ ledger
    def add_payment(self, payment: Payment) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(_PAY).values(
                    user_id=payment.user_id, plan_id=payment.plan_id, amount_minor=payment.amount.amount_minor,
                    currency=payment.amount.currency, kind=payment.kind, period_key=payment.period_key,
                    ok=payment.ok, at=payment.at, idempotency_key=payment.idempotency_key,
                    provider_ref=payment.provider_ref, failure_code=payment.failure_code,
                    period_start=payment.period_start, period_end=payment.period_end,
                ))
        except IntegrityError as exc:
            raise BillingError(f"period {payment.period_key} is already paid") from exc

    def paid(self, period_key: str) -> Payment | None:
        row = self._conn.execute(select(_PAY).where(_PAY.c.period_key == period_key, _PAY.c.ok.is_(True))).first()
        return _payment(row._mapping) if row else None

    def payments(self, user_id: UserId | None = None) -> list[Payment]:
        q = select(_PAY).order_by(_PAY.c.id)
        if user_id is not None:
            q = q.where(_PAY.c.user_id == user_id)
        return [_payment(r._mapping) for r in self._conn.execute(q)]

    def revenue_minor(self) -> dict[str, int]:
        """Successful payments summed per currency."""
        q = select(_PAY.c.currency, func.sum(_PAY.c.amount_minor)).where(_PAY.c.ok.is_(True)).group_by(_PAY.c.currency)
        return {cur: int(total) for cur, total in self._conn.execute(q)}

    # ------------------------------------------------------------ notices, settings, webhooks
    def mark_notice(self, key: str) -> bool:
        t = s.billing_notices
        if self._conn.execute(select(t.c.key).where(t.c.key == key)).first():
            return False
        self._conn.execute(insert(t).values(key=key))
        return True

    def save_settings(self, user_id: UserId, settings: dict[str, Any], at: datetime) -> None:
        t = s.billing_settings
        self._conn.execute(t.delete().where(t.c.user_id == user_id))
        self._conn.execute(insert(t).values(user_id=user_id, data=settings, saved_at=at))

    def saved_settings(self, user_id: UserId) -> tuple[dict[str, Any], datetime] | None:
        t = s.billing_settings
        row = self._conn.execute(select(t.c.data, t.c.saved_at).where(t.c.user_id == user_id)).first()
        return (dict(row[0]), row[1]) if row else None

    def webhook_seen(self, event_id: str) -> bool:
        t = s.webhook_events
        q = select(t.c.id).where(t.c.event_id == event_id, t.c.outcome.in_(("applied", "ignored"))).limit(1)
        return self._conn.execute(q).first() is not None

    def log_webhook(self, record: WebhookRecord) -> None:
        """Log one delivery; a rejected one (failed signature check) is also a security event in the
        audit log, in the same transaction."""
        self._conn.execute(insert(s.webhook_events).values(
            event_id=record.event_id, event_type=record.event_type, received_at=record.received_at,
            outcome=record.outcome, detail=record.detail[:2000],
        ))
        if record.outcome == "rejected":
            from perfectmatch.ops.audit import WEBHOOK_SIGNATURE_FAILED, audit

            audit(self._conn, WEBHOOK_SIGNATURE_FAILED, None, {"reason": record.detail[:200]}, actor="webhook",
                  at=record.received_at)

    def webhook_log(self) -> list[WebhookRecord]:
        t = s.webhook_events
        rows = self._conn.execute(select(t).order_by(t.c.id))
        return [WebhookRecord(r.event_id, r.event_type, r.received_at, r.outcome, r.detail) for r in rows]


def _row(a: Account) -> dict[str, Any]:
    last = a.last_provider_event
    return {
        "user_id": a.user_id, "plan_id": a.plan_id, "state": a.state.value, "period_start": a.period_start,
        "period_end": a.period_end, "card_last4": a.card.last4 if a.card else None,
        "card_brand": a.card.brand[:20] if a.card else None, "card_exp_month": a.card.exp_month if a.card else None,
        "card_exp_year": a.card.exp_year if a.card else None, "provider_ref": a.provider_ref,
        "customer_ref": a.customer_ref, "failed_attempts": a.failed_attempts, "first_failure_at": a.first_failure_at,
        "next_retry_at": a.next_retry_at, "cancel_requested_at": a.cancel_requested_at, "ended_at": a.ended_at,
        "provider_target": a.provider_target.value if a.provider_target else None,
        "provider_deleted": a.provider_deleted, "last_event_created": last[0] if last else None,
        "last_event_id": last[1] if last else None,
    }


def _account(r: Any) -> Account:
    card = Card(r["card_last4"], r["card_brand"] or "unknown", r["card_exp_month"], r["card_exp_year"]) if (
        r["card_last4"]) else None
    last = (int(r["last_event_created"]), r["last_event_id"]) if r["last_event_id"] is not None else None
    return Account(
        user_id=int(r["user_id"]), plan_id=r["plan_id"], state=State(r["state"]), period_start=r["period_start"],
        period_end=r["period_end"], customer_ref=r["customer_ref"], provider_ref=r["provider_ref"], card=card,
        failed_attempts=int(r["failed_attempts"]), first_failure_at=r["first_failure_at"],
        next_retry_at=r["next_retry_at"], cancel_requested_at=r["cancel_requested_at"], ended_at=r["ended_at"],
        last_provider_event=last, provider_target=State(r["provider_target"]) if r["provider_target"] else None,
        provider_deleted=bool(r["provider_deleted"]),
    )


def _payment(r: Any) -> Payment:
    return Payment(
        user_id=int(r["user_id"]), plan_id=r["plan_id"], amount=Money(int(r["amount_minor"]), r["currency"]),
        kind=r["kind"], period_key=r["period_key"], ok=bool(r["ok"]), at=r["at"],
        idempotency_key=r["idempotency_key"], provider_ref=r["provider_ref"], failure_code=r["failure_code"],
        period_start=r["period_start"], period_end=r["period_end"],
    )


class SqlPreferenceSnapshots:
    """``billing.service.PreferenceSnapshots`` over ``uow.preferences``: saves and restores them whole."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def snapshot(self, user_id: UserId) -> dict[str, Any]:
        prefs = self._uow.preferences.find(user_id)
        return prefs.model_dump(mode="json") if prefs is not None else {}

    def restore(self, user_id: UserId, settings: Mapping[str, Any]) -> None:
        if settings:
            self._uow.preferences.add(Preferences.model_validate(dict(settings)))
