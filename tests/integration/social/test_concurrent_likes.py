"""Two users liking each other at the same moment end up mutual, with one conversation (both backends)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.bootstrap import build_app
from perfectmatch.config import Settings
from perfectmatch.models import Match, MatchStatus, ScoreSource
from perfectmatch.populations.store import simulate_and_store
from perfectmatch.social import likes

DAY = date(2026, 11, 25)


def test_simultaneous_likes_become_mutual(db_url: str) -> None:
    app = build_app(Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}),
                    clock=FakeClock(datetime(2026, 11, 25, 12, tzinfo=UTC)), notifier=RecordingNotifier())
    simulate_and_store(app.uow, 24, 9, today=DAY, vector_spec=app.vector_spec)
    with app.uow as uow:
        ids = sorted(int(u.id) for u in uow.users.where(status="active"))
        pairs = list(zip(ids[0:12:2], ids[1:12:2], strict=True))
        uow.matches.add_many(Match(user_a=a, user_b=b, day=DAY, vector_score=0.5, final_score=60.0,
                                   source=ScoreSource.VECTOR) for a, b in pairs)
        uow.commit()
    results: list[likes.LikeResult] = []
    for a, b in pairs:
        barrier = threading.Barrier(2)

        def go(x: int, y: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            results.append(likes.like(app, x, y))

        threads = [threading.Thread(target=go, args=(a, b)), threading.Thread(target=go, args=(b, a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with app.uow as uow:
        for a, b in pairs:
            assert uow.matches.get((a, b)).status is MatchStatus.MUTUAL
            assert len(uow.conversations.where(user_a=a, user_b=b)) == 1
    assert sum(r.mutual for r in results) == len(pairs)  # exactly the second like of each pair saw the first
    app.close()
