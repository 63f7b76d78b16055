"""Billing test fixtures: a service on a fake clock, fake gateway, recording notifier and memory cache."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.payments.fake import FakePaymentGateway
from perfectmatch.billing.entitlements import EntitlementCheck
from perfectmatch.billing.service import BillingService
from perfectmatch.billing.store import InMemoryBillingStore

START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


class DictPreferences:
    """Premium preference settings per user; a downgrade resets them, restore puts them back."""

    def __init__(self) -> None:
        self.settings: dict[int, dict[str, Any]] = {}

    def snapshot(self, user_id: int) -> dict[str, Any]:
        saved = dict(self.settings.get(user_id, {}))
        self.settings[user_id] = {}
        return saved

    def restore(self, user_id: int, settings: Mapping[str, Any]) -> None:
        self.settings[user_id] = dict(settings)


class Rig:
    def __init__(self) -> None:
        self.clock = FakeClock(START)
        self.store = InMemoryBillingStore()
        self.gateway = FakePaymentGateway()
        self.notifier = RecordingNotifier()
        self.cache = MemoryCache(self.clock)
        self.prefs = DictPreferences()
        self.check = EntitlementCheck(self.store.account, self.clock, self.cache)
        self.service = BillingService(
            self.store, self.gateway, self.clock, notifier=self.notifier, entitlements=self.check,
            preferences=self.prefs,
        )

    def days(self, n: float) -> None:
        self.clock.advance(n * 86400)

    def kinds(self, user_id: int) -> list[str]:
        return [n.content["kind"] for n in self.notifier.sent if n.user_id == user_id]


@pytest.fixture
def rig() -> Rig:
    return Rig()
