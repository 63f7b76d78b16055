"""Storing populations on real SQLite and PostgreSQL: one transaction, idempotent OkCupid import."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork
from perfectmatch.errors import ImportRowError, InvalidInputError
from perfectmatch.models import QuestionnaireResponse
from perfectmatch.populations.okcupid import import_okcupid
from perfectmatch.populations.simulate import SimulatedPopulation, simulate
from perfectmatch.populations.store import save_population, simulate_and_store

TODAY = date(2026, 11, 25)
HEADER = ("row_id,age,body_type,diet,drinks,drugs,education,ethnicity,height,income,job,offspring,"
          "orientation,pets,religion,sex,sign,smokes,speaks,status")
GOOD = [
    "0,30,athletic,strictly vegan,often,never,graduated from college/university,,70,-1,,"
    "\"doesn&rsquo;t want kids\",straight,likes dogs,atheism,m,,no,english,single",
    "1,41,curvy,,socially,,,,65,-1,,,bisexual,,christianity and very serious about it,f,,,english,single",
    "2,28,,,,,,,,-1,,,gay,,,m,,,english,single",
    "3,55,,,,,,,,-1,,,straight,,,f,,,english,married",
]


def _counts(engine: Engine) -> dict[str, int]:
    with SqlAlchemyUnitOfWork(engine) as uow:
        return {k: getattr(uow, k).count() for k in ("users", "profiles", "preferences", "responses")}


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "okc.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_simulate_and_store_writes_everything(engine: Engine) -> None:
    report = simulate_and_store(SqlAlchemyUnitOfWork(engine), 300, 9, today=TODAY)
    assert report.users == 300 and report.rows_per_s > 0 and report.summary["users"] == 300
    assert _counts(engine) == {"users": 300, "profiles": 300, "preferences": 300, "responses": 300}
    lo, hi = report.user_ids
    with SqlAlchemyUnitOfWork(engine) as uow:
        loaded = uow.population.load()
        member = uow.member(lo + 7)
    assert len(loaded) == 300 and loaded.ids[0] == lo and loaded.ids[-1] == hi
    expected = simulate(300, 9, today=TODAY)
    assert np.array_equal(loaded.gender, expected.frame.gender)
    assert np.array_equal(loaded.seeks, expected.frame.seeks)
    assert member.response is not None
    assert member.response.answers == expected.responses[7].answers
    assert member.response.open_texts == expected.responses[7].open_texts


class _Exploding(Sequence[QuestionnaireResponse]):
    """Responses that fail part-way, as a crash in the middle of a store would."""

    def __init__(self, inner: Sequence[QuestionnaireResponse], at: int) -> None:
        self.inner, self.at = inner, at

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        if i == self.at:
            raise RuntimeError("disk full")
        return self.inner[i]


class _BrokenPopulation(SimulatedPopulation):
    @property
    def responses(self) -> Sequence[QuestionnaireResponse]:
        return _Exploding(super().responses, at=250)


def test_failure_half_way_writes_nothing(engine: Engine) -> None:
    simulate_and_store(SqlAlchemyUnitOfWork(engine), 20, 1, today=TODAY)
    before = _counts(engine)
    pop = simulate(400, 2, today=TODAY)
    broken = _BrokenPopulation(**vars(pop))
    with pytest.raises(RuntimeError, match="disk full"):
        save_population(SqlAlchemyUnitOfWork(engine), broken)
    assert _counts(engine) == before


def test_okcupid_import_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    path = _csv(tmp_path, GOOD)
    first = import_okcupid(path, SqlAlchemyUnitOfWork(engine), today=TODAY)
    assert (first.imported, first.already_imported, first.skipped) == (3, 0, {"status married": 1})
    again = import_okcupid(path, SqlAlchemyUnitOfWork(engine), today=TODAY)
    assert (again.imported, again.already_imported, again.user_ids) == (0, 3, None)
    assert _counts(engine)["users"] == 3
    more = _csv(tmp_path, [*GOOD, "4,33,,,,,,,,-1,,,straight,,,f,,,english,single"])
    third = import_okcupid(more, SqlAlchemyUnitOfWork(engine), today=TODAY)
    assert (third.imported, third.already_imported) == (1, 3)
    with SqlAlchemyUnitOfWork(engine) as uow:
        ids = uow.users.ids_by_source("okcupid")
        assert sorted(ids) == ["0", "1", "2", "4"]
        member = uow.member(ids["1"])
    assert member.response is not None and member.response.open_texts_missing_reason == "not in the 2021 release"
    assert {a.question_id: a.value for a in member.response.answers}["cv_religion_importance"] == 4


def test_malformed_file_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = _csv(tmp_path, [*GOOD, "9,33,,,,,,,,-1"])
    with pytest.raises(ImportRowError, match="line 6"):
        import_okcupid(path, SqlAlchemyUnitOfWork(engine), today=TODAY)
    assert _counts(engine)["users"] == 0
    report = import_okcupid(path, SqlAlchemyUnitOfWork(engine), today=TODAY, skip_malformed=True)
    assert report.imported == 3 and report.skipped["malformed row"] == 1
    assert report.malformed_lines == ["line 6: expected 20 fields, got 10"]


def test_missing_file_is_refused_before_touching_storage(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        import_okcupid(tmp_path / "nope.csv.gz", SqlAlchemyUnitOfWork(engine), today=TODAY)


def test_simulation_without_questionnaire_has_no_responses() -> None:
    pop = simulate(5, 0, today=TODAY, bank=False)
    assert pop.answers is None and list(pop.responses) == []
    assert len(replace(pop, metro=pop.metro)) == 5


class RecordingProgress:
    """A ``ports.Progress`` that remembers totals and steps per task."""

    def __init__(self) -> None:
        self.totals: dict[str, int | None] = {}
        self.done: dict[str, int] = {}

    def start(self, task: str, total: int | None) -> None:
        self.totals[task] = total
        self.done.setdefault(task, 0)

    def advance(self, task: str, n: int = 1) -> None:
        self.done[task] = self.done.get(task, 0) + n


def test_progress_counts_every_stored_user(engine: Engine, tmp_path: Path) -> None:
    progress = RecordingProgress()
    simulate_and_store(SqlAlchemyUnitOfWork(engine), 2500, 3, today=TODAY, progress=progress)
    assert progress.totals == {"generate": 1, "store": 2500}
    assert progress.done == {"generate": 1, "store": 2500}
    progress = RecordingProgress()
    import_okcupid(_csv(tmp_path, GOOD), SqlAlchemyUnitOfWork(engine), today=TODAY, progress=progress)
    assert progress.done["okcupid: store"] == progress.totals["okcupid: store"] == 3
