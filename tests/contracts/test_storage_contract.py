"""One storage contract, run against real SQLite and real PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

import strategies as S
from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork
from perfectmatch.errors import NotFound
from perfectmatch.frame import PopulationFrame, VectorSet
from perfectmatch.models import Conversation, Member, Message, User

PROPS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def new_user(uow: SqlAlchemyUnitOfWork, user: User) -> int:
    saved = uow.users.add(user)
    assert saved.id is not None
    return saved.id


@PROPS
@given(data=st.data())
def test_every_aggregate_reads_back_equal(engine: Engine, data: st.DataObject) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        a = new_user(uow, data.draw(S.users()))
        b = new_user(uow, data.draw(S.users()))
        items = {
            "profiles": data.draw(S.profiles(a)),
            "preferences": data.draw(S.preferences(a)),
            "responses": data.draw(S.responses(a)),
            "vectors": data.draw(S.vectors(a)),
            "matches": data.draw(S.matches(a, b)),
            "likes": data.draw(S.likes(a, b)),
            "blocks": data.draw(S.blocks(b, a)),
            "notifications": data.draw(S.notifications(a)),
            "notification_prefs": data.draw(S.notification_prefs(b)),
        }
        for repo, item in items.items():
            getattr(uow, repo).add(item)
        sub = uow.subscriptions.add(data.draw(S.subscriptions(b)))
        uow.commit()
    with uow:
        for repo, item in items.items():
            r = getattr(uow, repo)
            assert r.get(r.mapping.key_of(item)) == item, repo
        assert uow.subscriptions.get(sub.id) == sub
        assert uow.users.get(a).id == a


def test_rollback_unless_committed(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with uow:
        uow.users.add(User(created_at=now, last_active_at=now))
    with uow:
        assert uow.users.count() == 0
    with pytest.raises(RuntimeError), uow:
        uow.users.add(User(created_at=now, last_active_at=now))
        raise RuntimeError("boom")
    with uow:
        assert uow.users.count() == 0


def test_get_missing_raises_not_found(engine: Engine) -> None:
    with SqlAlchemyUnitOfWork(engine) as uow, pytest.raises(NotFound, match="User 99"):
        uow.users.get(99)


def test_upsert_replaces(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with uow:
        uid = new_user(uow, User(created_at=now, last_active_at=now))
        later = uow.users.get(uid).model_copy(update={"last_active_at": now + timedelta(days=3)})
        uow.users.add(later)
        uow.commit()
        assert uow.users.get(uid) == later
        assert uow.users.count() == 1


def test_conversation_and_messages_get_ids(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with uow:
        a = new_user(uow, User(created_at=now, last_active_at=now))
        b = new_user(uow, User(created_at=now, last_active_at=now))
        conv = uow.conversations.add(Conversation(user_a=a, user_b=b, created_at=now))
        msgs = [uow.messages.add(Message(conversation_id=conv.id, sender_id=a, body=f"hi {i}", created_at=now))
                for i in range(3)]
        uow.commit()
        assert [m.id for m in uow.messages.where(conversation_id=conv.id)] == [m.id for m in msgs]


@st.composite
def members(draw: st.DrawFn) -> Member:
    user = draw(S.users(source="sim")).model_copy(update={"id": 0, "email": None})
    profile = draw(S.profiles(0)).model_copy(update={"photos": (), "bio": ""})
    prefs = draw(S.preferences(0)).model_copy(update={"dealbreakers": frozenset()})
    return Member(user=user, profile=profile, preferences=prefs)


@PROPS
@given(ms=st.lists(members(), min_size=1, max_size=12))
def test_population_round_trip(engine: Engine, ms: list[Member]) -> None:
    """A frame saved in bulk loads back equal (ids aside), and members() rebuild the models."""
    frame = PopulationFrame.from_members(ms)
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        ids = uow.population.save(frame)
        uow.commit()
    with uow:
        loaded = uow.population.load()
    got = loaded.take(np.isin(loaded.ids, ids))
    order = np.argsort(got.ids)
    got = got.take(order)
    expected = frame.with_ids(ids).take(np.argsort(ids))
    for name in ("ids", "gender", "seeks", "birth_day", "lat", "lon", "radius_km", "age_min", "age_max",
                 "goal", "tier", "status", "created_at", "last_active_at"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    assert list(got.display_name) == list(expected.display_name)
    for i, m in enumerate(ms):
        j = int(np.flatnonzero(got.ids == ids[i])[0])
        back = got.member(j)
        assert back.profile == m.profile.model_copy(update={"user_id": int(ids[i])})
        assert back.preferences == m.preferences.model_copy(update={"user_id": int(ids[i])})


def test_population_load_active_only(engine: Engine) -> None:
    day = date(2026, 6, 1)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    fresh = datetime(2026, 5, 20, tzinfo=UTC)
    ms = []
    for i, (status, seen) in enumerate([("active", fresh), ("active", base), ("suspended", fresh)]):
        ms.append(Member(
            user=User(id=0, status=status, created_at=base, last_active_at=seen),
            profile=S.Profile(user_id=0, display_name=f"u{i}", birth_date=date(1990, 1, 1), gender="woman",
                              location=S.GeoPoint(lat=37.7, lon=-122.4)),
            preferences=S.Preferences(user_id=0, genders_sought={"man"}, age_min=25, age_max=40, radius_km=30,
                                      goal="long_term"),
        ))
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        ids = uow.population.save(PopulationFrame.from_members(ms))
        uow.commit()
    with uow:
        active = uow.population.load(active_on=day)
    assert active.ids.tolist() == [ids[0]]


def random_vectors(uow: SqlAlchemyUnitOfWork, n: int, d: int, rng: np.random.Generator) -> VectorSet:
    """``n`` new users with random version-"v1" vectors of ``d`` dimensions (not stored yet)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ids = np.array([new_user(uow, User(created_at=now, last_active_at=now)) for _ in range(n)])
    return VectorSet("v1", ids, rng.standard_normal((n, d)).astype(np.float32),
                     rng.uniform(0.1, 1, (n, 5)).astype(np.float32), rng.uniform(0.8, 1, n).astype(np.float32))


def test_vector_matrix_versions(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        vs = random_vectors(uow, 5, 16, np.random.default_rng(1))
        ids = vs.ids
        uow.vector_matrix.save_matrix(vs)
        uow.vector_matrix.save_matrix(dataclasses.replace(vs.take(np.arange(2)), version="v2"))
        uow.commit()
        got = uow.vector_matrix.load_matrix("v1")
        assert got.ids.tolist() == [int(i) for i in ids[2:]]  # users 0 and 1 were replaced by v2
        for name in ("vecs", "importance", "completeness"):
            np.testing.assert_array_equal(getattr(got, name), getattr(vs, name)[2:])
        got = uow.vector_matrix.load_matrix("v2", ids=ids[:1])
        np.testing.assert_array_equal(got.vecs, vs.vecs[:1])


@PROPS
@given(wanted=st.lists(st.integers(0, 11), max_size=14), chunk=st.integers(1, 5))
def test_vector_matrix_loads_chosen_ids_across_read_chunks(engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                           wanted: list[int], chunk: int) -> None:
    """Loading only some ids (repeated, unknown or none of them stored) returns exactly those stored,
    sorted, whatever the read chunk size (SQLite reads in chunks straight into the result)."""
    from perfectmatch.adapters.storage import population

    monkeypatch.setattr(population, "CHUNK", chunk)
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        vs = random_vectors(uow, 8, 6, np.random.default_rng(chunk))
        ids = vs.ids
        uow.vector_matrix.save_matrix(vs)  # not committed: each example rolls back what it wrote
        asked = np.array([int(ids[w]) if w < 8 else int(ids.max()) + w for w in wanted], dtype=np.int64)
        got = uow.vector_matrix.load_matrix("v1", ids=asked)
        rows = np.flatnonzero(np.isin(ids, asked))
        assert got.ids.tolist() == ids[rows].tolist()
        for name in ("vecs", "importance", "completeness"):
            np.testing.assert_array_equal(getattr(got, name), getattr(vs, name)[rows])
        assert len(uow.vector_matrix.load_matrix("v1")) == 8
        uow.rollback()


def test_vector_matrix_is_bit_exact_and_reads_legacy_rows(engine: Engine) -> None:
    """Stored float32 bytes come back unchanged (NaN payloads, -0.0, subnormals), a re-store replaces
    them, and rows written before importance and completeness existed read as 0.5 and 1.0."""
    uow = SqlAlchemyUnitOfWork(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    odd = np.array([np.nan, -0.0, 1e-45, np.inf, -np.inf, 3.4e38, 1.0], dtype=np.float32)
    with uow:
        ids = np.array([new_user(uow, User(created_at=now, last_active_at=now)) for _ in range(4)])
        vecs = np.tile(odd, (3, 1))
        vecs[1] = np.arange(7, dtype="<u4").view("<f4")  # tiny subnormals
        vs = VectorSet("v1", ids[:3], vecs, np.full((3, 5), 0.25, np.float32), np.array([0.8, 0.9, 1.0], np.float32))
        assert uow.vector_matrix.save_matrix(vs) == 3
        assert uow.vector_matrix.save_matrix(VectorSet("v1", ids[:0], vecs[:0], vecs[:0, :5], vecs[:0, 0])) == 0
        mark = "?" if engine.dialect.name == "sqlite" else "%s"
        uow.connection.exec_driver_sql(
            f"INSERT INTO profile_vectors (user_id, version, dim, data) VALUES ({mark}, {mark}, {mark}, {mark})",
            (int(ids[3]), "v1", 7, odd[::-1].copy().tobytes()))
        uow.commit()
        got = uow.vector_matrix.load_matrix("v1")
        assert got.ids.tolist() == ids.tolist()
        assert got.vecs.tobytes() == np.vstack([vecs, odd[::-1]]).tobytes()
        np.testing.assert_array_equal(got.importance, np.vstack([np.full((3, 5), 0.25), np.full((1, 5), 0.5)]))
        np.testing.assert_array_equal(got.completeness, np.array([0.8, 0.9, 1.0, 1.0], np.float32))
        again = dataclasses.replace(vs.take(np.arange(1)), vecs=vecs[1:2] * 2, version="v1")
        uow.vector_matrix.save_matrix(again)  # a re-store of a user who has a vector (delete + COPY on PostgreSQL)
        uow.commit()
        assert uow.vector_matrix.load_matrix("v1", ids=ids[:1]).vecs.tobytes() == (vecs[1:2] * 2).tobytes()
        assert len(uow.vector_matrix.load_matrix("v9")) == 0
