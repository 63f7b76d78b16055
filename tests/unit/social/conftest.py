"""Fixtures for the social tests: a small simulated population in a SQLite file, copied per use."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from itertools import combinations
from pathlib import Path

import pytest

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.models import Match, ScoreSource, UserStatus
from perfectmatch.populations.store import simulate_and_store
from perfectmatch.social.delivery import RetryPolicy
from perfectmatch.social.wiring import install

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
N_USERS = 12


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, db_url=f"sqlite:///{path}", cache={"backend": "none"}, auto_migrate=False)


@pytest.fixture(scope="session")
def social_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """A migrated SQLite file with ``N_USERS`` simulated users, every pair of the first six matched."""
    path = tmp_path_factory.mktemp("social") / "template.db"
    shutil.copy(sqlite_template, path)
    app = build_app(_settings(path), clock=FakeClock(NOW), cache=None, notifier=RecordingNotifier())
    simulate_and_store(app.uow, N_USERS, 3, today=DAY, vector_spec=app.vector_spec)
    with app.uow as uow:
        for user in uow.users.where():  # every test user active, so the tests pick any of them
            uow.users.add(user.model_copy(update={"status": UserStatus.ACTIVE}))
        ids = sorted(u.id for u in uow.users.where())[:6]
        uow.matches.add_many(
            Match(user_a=a, user_b=b, day=DAY, vector_score=0.5, final_score=70.0, source=ScoreSource.VECTOR)
            for a, b in combinations(ids, 2)
        )
        uow.commit()
    with app.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    app.close()
    return path


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(social_template: Path, tmp_path: Path) -> Iterator[AppFactory]:
    """Build an app on a fresh copy of the template; ``notifier``/``clock`` may be given."""
    made: list[App] = []

    def factory(notifier: object | None = None, clock: FakeClock | None = None, **policy: object) -> App:
        path = tmp_path / f"{uuid.uuid4().hex}.db"
        shutil.copy(social_template, path)
        clock = clock or FakeClock(NOW)
        app = build_app(_settings(path), clock=clock, cache=MemoryCache(clock),
                        notifier=notifier or RecordingNotifier())
        install(app, policy=RetryPolicy(**{"attempts": 3, "base_s": 0.01, "sleep": lambda s: None, **policy}))
        made.append(app)
        return app

    yield factory
    for app in made:
        app.close()

