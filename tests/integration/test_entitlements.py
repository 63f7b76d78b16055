"""One feature-access check everywhere: a paid subscription unlocks the full match list and premium
insights in discovery at once (cache invalidated by billing), and they end with the paid period."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.payments.fake import FakePaymentGateway
from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore
from perfectmatch.billing.entitlements import EntitlementCheck, Feature
from perfectmatch.billing.service import BillingService
from perfectmatch.bootstrap import build_app
from perfectmatch.config import Settings
from perfectmatch.discovery import match_details
from perfectmatch.models import Tier
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)


def test_subscription_unlocks_premium_content_at_once(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "e.db"
    shutil.copy(sqlite_template, path)
    clock = FakeClock(datetime(2026, 11, 25, 3, tzinfo=UTC))
    cache = MemoryCache(clock)
    app = build_app(Settings(_env_file=None, db_url=f"sqlite:///{path}"), clock=clock, cache=cache,
                    notifier=RecordingNotifier())
    simulate_and_store(app.uow, 600, 4, today=DAY, vector_spec=app.vector_spec)
    run_daily_batch(app, day=DAY)
    with app.uow as uow:
        match = uow.batch.matches_on(DAY)[0]
        viewer = match.user_a
        uow.users.add(uow.users.get(viewer).model_copy(update={"tier": Tier.FREE}))
        uow.commit()
    assert match_details(app, viewer, match.user_b)["tier_view"] == "basic"
    assert not app.entitlements.can(viewer, Feature.FULL_MATCH_LIST)

    def service(uow: object) -> BillingService:
        store = SqlAlchemyBillingStore(uow.connection)  # type: ignore[attr-defined]
        return BillingService(store, FakePaymentGateway(), clock, notifier=app.notifier,
                              entitlements=EntitlementCheck(store.account, clock, cache))

    with app.uow as uow:
        service(uow).subscribe(viewer, "premium_monthly")
        uow.commit()
    details = match_details(app, viewer, match.user_b)
    assert details["tier_view"] == "premium" and "conversation_starters" in details["insight"]
    with app.uow as uow:
        service(uow).cancel(viewer)
        uow.commit()
    clock.advance(timedelta(days=40).total_seconds())  # past the paid period: premium ends by itself
    assert not app.entitlements.can(viewer, Feature.PREMIUM_INSIGHTS)
    app.close()
