"""The durable profile-analysis queue on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.storage.queue import SqlAnalysisQueue
from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork
from perfectmatch.models import User

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_queue_lifecycle_and_leases(engine: Engine) -> None:
    with SqlAlchemyUnitOfWork(engine) as uow:
        a, b = (uow.users.add(User(created_at=NOW, last_active_at=NOW)).id for _ in range(2))
        uow.commit()
    clock = FakeClock(NOW)
    q = SqlAnalysisQueue(engine, clock)
    q.enqueue(a, {"answers": {"q1": "x"}})
    q.enqueue(a, {"answers": {"q1": "y"}})  # latest data wins, still one request
    clock.advance(1)
    q.enqueue(b, {"answers": {}})
    assert q.pending() == 2
    first = q.claim(10, lease_s=60)
    assert [(x.user_id, x.payload) for x in first] == [(a, {"answers": {"q1": "y"}}), (b, {"answers": {}})]
    assert q.claim(10) == []  # leased
    q.release(a, "AI still down")
    again = q.claim(10)
    assert [(x.user_id, x.attempts) for x in again] == [(a, 1)]
    clock.advance(61)  # b's lease expired: a crashed drainer's item comes back
    assert [x.user_id for x in q.claim(10)] == [b]
    q.done(a)
    q.done(b)
    assert q.pending() == 0
    # a new queue object on the same database sees what the old one left (durability)
    q.enqueue(b, {"k": 1})
    assert SqlAnalysisQueue(engine, clock).pending() == 1
