"""``FakePaymentGateway``: an in-memory ``PaymentGateway`` with scripted card outcomes, for tests."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from perfectmatch.errors import PaymentUnavailable
from perfectmatch.models import UserId
from perfectmatch.ports import Money, PaymentResult

OUTCOMES = ("ok", "card_declined", "insufficient_funds", "expired_card", "unavailable")


@dataclass(frozen=True)
class FakeCard:
    last4: str = "4242"
    brand: str = "visa"
    exp_month: int = 12
    exp_year: int = 2099


@dataclass(frozen=True)
class Charge:
    customer_ref: str
    amount: Money
    idempotency_key: str
    result: PaymentResult


class FakePaymentGateway:
    """Customers ``cus_<user_id>``; each charge takes the next scripted outcome, else the default.

    Outcomes: ``"ok"``, a decline code (``"card_declined"``, ``"insufficient_funds"``,
    ``"expired_card"``) or ``"unavailable"`` (raises ``PaymentUnavailable``, as a network error
    does). ``decide(customer_ref)`` picks the outcome when no script is queued. A repeated
    idempotency key returns the first result without charging again.
    ``charges`` lists every charge attempt that reached the "provider".
    """

    def __init__(self, *, default: str = "ok", decide: Callable[[str], str] | None = None) -> None:
        self.default = default
        self.decide = decide  # customer_ref -> outcome, for simulations with random card failures
        self.cards: dict[str, FakeCard] = {}
        self.charges: list[Charge] = []
        self._scripts: dict[str, deque[str]] = {}
        self._by_key: dict[str, PaymentResult] = {}

    @staticmethod
    def ref(user_id: UserId) -> str:
        return f"cus_{user_id}"

    def create_customer(self, user_id: UserId, email: str | None) -> str:
        ref = self.ref(user_id)
        self.cards.setdefault(ref, FakeCard())
        return ref

    def set_card(self, user_id: UserId, card: FakeCard) -> None:
        self.cards[self.ref(user_id)] = card

    def script(self, user_id: UserId, outcomes: Iterable[str]) -> None:
        """Queue the outcomes of the next charges of ``user_id``."""
        for outcome in outcomes:
            if outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {outcome!r} (known: {', '.join(OUTCOMES)})")
        self._scripts.setdefault(self.ref(user_id), deque()).extend(outcomes)

    def charge(self, customer_ref: str, amount: Money, *, idempotency_key: str) -> PaymentResult:
        if idempotency_key in self._by_key:
            return self._by_key[idempotency_key]
        queue = self._scripts.get(customer_ref)
        outcome = queue.popleft() if queue else (self.decide(customer_ref) if self.decide else self.default)
        if outcome == "unavailable":
            raise PaymentUnavailable(f"fake gateway: network error charging {customer_ref}")
        card = self.cards.get(customer_ref, FakeCard())
        ok = outcome == "ok"
        result = PaymentResult(
            ok=ok,
            provider_ref=f"pi_{len(self.charges) + 1}" if ok else None,
            failure_code=None if ok else outcome,
            card_last4=card.last4,
            card_brand=card.brand,
            card_exp_month=card.exp_month,
            card_exp_year=card.exp_year,
        )
        self._by_key[idempotency_key] = result
        self.charges.append(Charge(customer_ref, amount, idempotency_key, result))
        return result
