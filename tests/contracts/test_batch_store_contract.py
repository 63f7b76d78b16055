"""The batch store (lock, checkpoints, offers, notifications) on real SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork
from perfectmatch.errors import BatchLockedError, InvalidInputError
from perfectmatch.frame import MatchBatch, pair_keys
from perfectmatch.models import Block, Match, Notification, NotificationType, ScoreSource, User

DAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def users(uow: SqlAlchemyUnitOfWork, n: int) -> list[int]:
    return [uow.users.add(User(created_at=NOW, last_active_at=NOW)).id for _ in range(n)]  # type: ignore[misc]


def test_lock_is_exclusive_until_stale(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        row = uow.batch.acquire(DAY, "run-1", NOW, stale_after_s=600)
        uow.commit()
        assert row["status"] == "running" and row["stages"] == {}
    with uow, pytest.raises(BatchLockedError, match="is running"):
        uow.batch.acquire(DAY, "run-2", NOW + timedelta(seconds=60), stale_after_s=600)
    with uow:
        uow.batch.checkpoint(DAY, "run-1", "load", {"users": 3}, NOW)
        uow.commit()
    with uow:  # the first run died: after the stale window a new run takes over with its checkpoints
        row = uow.batch.acquire(DAY, "run-2", NOW + timedelta(seconds=601), stale_after_s=600)
        uow.commit()
        assert row["owner"] == "run-2" and row["stages"] == {"load": {"users": 3}}
    with uow, pytest.raises(BatchLockedError, match="lost the lock"):
        uow.batch.checkpoint(DAY, "run-1", "x", {}, NOW)
    with uow:
        uow.batch.finish(DAY, "run-2", {"matches": 0}, NOW)
        uow.commit()
    with uow:
        row = uow.batch.acquire(DAY, "run-3", NOW, stale_after_s=600)
        assert row["status"] == "done" and row["summary"] == {"matches": 0}


def test_offers_never_duplicate_and_exclusions(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b, c = users(uow, 3)
        m = Match(user_a=a, user_b=b, day=DAY, vector_score=0.9, final_score=88, source=ScoreSource.VECTOR)
        assert uow.batch.add_matches([m]) == 1
        uow.batch.add_matches([m.model_copy(update={"final_score": 10.0})])  # a replay changes nothing
        uow.blocks.add(Block(blocker=c, blocked=a, created_at=NOW))
        uow.commit()
        assert uow.batch.matches_on(DAY) == [m]
        assert uow.batch.matches_of(b) == [m]
        assert sorted(uow.batch.excluded_pair_keys().tolist()) == sorted(pair_keys([a, a], [b, c]).tolist())


def test_notifications_insert_once_and_mark_delivered(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        (a,) = users(uow, 1)
        note = Notification(id=f"batch:{DAY}:{a}", user_id=a, type=NotificationType.NEW_MATCH, created_at=NOW)
        uow.batch.add_notifications([note])
        uow.batch.add_notifications([note.model_copy(update={"content": {"x": 1}})])
        uow.commit()
        assert uow.batch.undelivered(f"batch:{DAY}:") == {note.id: note.content}
        assert uow.batch.undelivered(f"batch:{DAY}:9") == {}
        uow.batch.mark_delivered([note.id], NOW)
        uow.commit()
        assert uow.batch.undelivered(f"batch:{DAY}:") == {}
        assert uow.notifications.get(note.id).delivered
        assert uow.notifications.get(note.id).delivered_at == NOW


def test_mark_delivered_marks_exactly_the_listed_ids(engine: Engine) -> None:
    """Ids travel as one array parameter: quotes, backslashes and non-ASCII survive, others stay pending."""
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        (a,) = users(uow, 1)
        ids = [f"x:{a}:{tail}" for tail in ('plain', 'q"uote', "back\\slash", "ünï", "'single", "%s", "?")]
        uow.batch.add_notifications([Notification(id=i, user_id=a, type=NotificationType.NEW_MATCH, created_at=NOW)
                                     for i in ids])
        uow.batch.mark_delivered([], NOW)
        uow.batch.mark_delivered([*ids[1::2], "x:absent"], NOW)
        uow.commit()
        assert sorted(uow.batch.undelivered("x:")) == sorted(ids[0::2])
        assert all(uow.notifications.get(i).delivered_at == NOW for i in ids[1::2])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 1), st.one_of(st.just(math.nan), st.floats(0, 100)), st.floats(0, 100),
                          st.sampled_from(list(ScoreSource)), st.one_of(st.none(), st.text("ab:09", max_size=8))),
                min_size=1, max_size=4))
def test_match_columns_store_what_the_models_store(engine: Engine, rows: list[tuple]) -> None:
    """A ``MatchBatch`` (numpy or list columns) reads back equal to storing one ``Match`` per row."""
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        first, *others = users(uow, len(rows) + 1)
        models = [Match(user_a=first, user_b=o, day=DAY, vector_score=v, ai_score=None if s != s else s,
                        final_score=f, source=src, insight_id=i)
                  for o, (v, s, f, src, i) in zip(others, rows, strict=True)]
        v, s, f, src, i = zip(*rows, strict=True)
        batch = MatchBatch(day=DAY, user_a=np.full(len(rows), first), user_b=np.array(others), vector_score=list(v),
                           ai_score=np.array(s), final_score=np.array(f), source=[x.value for x in src],
                           insight_id=list(i))
        assert uow.batch.add_matches(batch) == len(rows)
        assert sorted(uow.batch.matches_on(DAY), key=lambda m: m.user_b) == models
        uow.rollback()


@pytest.mark.parametrize(("change", "message"), [
    ({"user_b": [1]}, "row 0 .*user_a < user_b"), ({"vector_score": [1.5]}, "vector_score must be in"),
    ({"ai_score": [-1.0]}, "ai_score"), ({"final_score": [101.0]}, "final_score"),
    ({"source": ["oracle"]}, "source must be one of"), ({"insight_id": []}, "insight_id has 0 rows"),
])
def test_match_columns_refuse_what_a_match_refuses(change: dict, message: str) -> None:
    good = {"day": DAY, "user_a": [1], "user_b": [2], "vector_score": [0.5], "ai_score": [math.nan],
            "final_score": [80.0], "source": ["vector"], "insight_id": [None]}
    MatchBatch(**good)
    with pytest.raises(InvalidInputError, match=message):
        MatchBatch(**{**good, **change})


def test_bulk_inserts_mixing_existing_new_and_repeated_keys(engine: Engine) -> None:
    """Matches and notifications keep the stored row (and the first of a repeated key); insights take the
    last; new keys in the same call are stored; pre-serialised insight JSON is stored as given."""
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a, b, c = users(uow, 3)
        ab = Match(user_a=a, user_b=b, day=DAY, vector_score=0.9, final_score=88, source=ScoreSource.VECTOR)
        ac = Match(user_a=a, user_b=c, day=DAY, vector_score=0.5, final_score=51, source=ScoreSource.FALLBACK,
                   ai_score=40.5, insight_id="x")
        uow.batch.add_matches([ab])
        uow.commit()
        assert uow.batch.add_matches([ab.model_copy(update={"final_score": 1.0}), ac,
                                      ac.model_copy(update={"final_score": 2.0})]) == 3
        note = Notification(id="n1", user_id=a, type=NotificationType.NEW_MATCH, created_at=NOW, content={"k": 1})
        uow.batch.add_notifications([note])
        uow.commit()
        later = NOW + timedelta(minutes=5)
        fresh = Notification(id="n2", user_id=b, type=NotificationType.NEW_MATCH, created_at=NOW, delivered=True,
                             delivered_at=later, content={"newMatches": 2, "bestScore": 71.5})
        uow.batch.add_notifications([note.model_copy(update={"content": {"k": 2}}), fresh,
                                     fresh.model_copy(update={"content": {}})])
        row = {"id": "i1", "user_a": a, "user_b": b, "day": DAY, "source": "fallback", "score": 50.0,
               "basic": {"s": 1}, "premium": {"s": 1, "more": [1, 2]}}
        uow.batch.add_insights([row])
        uow.commit()
        uow.batch.add_insights([{**row, "score": 60.0}, {**row, "id": "i2", "basic": '{"s": 2}', "premium": "{}"},
                                {**row, "score": 70.0}])
        uow.commit()
        assert sorted(uow.batch.matches_on(DAY), key=lambda m: m.user_b) == [ab, ac]
        assert uow.notifications.get("n1") == note and uow.notifications.get("n2") == fresh
        got = uow.batch.insights(["i1", "i2"])
        assert got["i1"]["score"] == 70.0 and got["i1"]["premium"] == {"s": 1, "more": [1, 2]}
        assert got["i2"]["basic"] == {"s": 2} and got["i2"]["premium"] == {}
