"""Generate a synthetic population and store it in one transaction, timing both steps."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, overload

from perfectmatch.errors import InvalidInputError
from perfectmatch.matching.vectors import VectorSpec
from perfectmatch.models import QuestionnaireResponse
from perfectmatch.populations.simulate import SimulatedPopulation, simulate
from perfectmatch.populations.vectors import answer_matrix_vectors
from perfectmatch.ports import NO_PROGRESS, Progress, UnitOfWork

MAX_USERS = 10_000_000
STEP = 1000


class TrackedResponses(Sequence[QuestionnaireResponse]):
    """Responses that report storing progress as storage reads them (every ``STEP`` rows)."""

    def __init__(self, inner: Sequence[QuestionnaireResponse], progress: Progress, task: str) -> None:
        self._inner, self._progress, self._task = inner, progress, task

    def __len__(self) -> int:
        return len(self._inner)

    @overload
    def __getitem__(self, i: int) -> QuestionnaireResponse: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[QuestionnaireResponse]: ...

    def __getitem__(self, i: int | slice) -> QuestionnaireResponse | Sequence[QuestionnaireResponse]:
        if isinstance(i, int) and i % STEP == STEP - 1:
            self._progress.advance(self._task, STEP)
        return self._inner[i]


@dataclass
class SimulationReport:
    """What ``simulate_and_store`` did: counts by group, new id range, seconds and rows/s."""

    users: int
    seed: int
    today: date
    summary: dict[str, Any] = field(default_factory=dict)
    user_ids: tuple[int, int] | None = None
    generate_s: float = 0.0
    store_s: float = 0.0
    seconds: float = 0.0
    rows_per_s: float = 0.0


def check_users(n: int) -> int:
    """Return ``n`` if it is a usable population size.

    Raises
    ------
    InvalidInputError
        ``n`` is zero, negative or above ``MAX_USERS``.
    """
    if n < 1:
        raise InvalidInputError(f"--users must be a positive number of users, got {n}")
    if n > MAX_USERS:
        raise InvalidInputError(f"--users must be at most {MAX_USERS:,}, got {n:,}")
    return n


def save_population(
    uow: UnitOfWork, population: SimulatedPopulation, *, progress: Progress = NO_PROGRESS,
    vector_spec: VectorSpec | None = None,
) -> tuple[int, int] | None:
    """Store users, profiles, preferences, responses (and profile vectors, given ``vector_spec``)
    in one transaction; returns the id range.

    ``uow`` must be fresh (not entered): it is entered here and committed once, so a failure
    half-way writes nothing. ``progress`` gets task ``"store"`` with one step per user.
    """
    progress.start("store", len(population))
    responses = population.responses
    with uow:
        ids = uow.population.save(population.frame, TrackedResponses(responses, progress, "store") if responses else ())
        if vector_spec is not None:  # as the spec creates vectors at profile creation
            uow.vector_matrix.save_matrix(answer_matrix_vectors(vector_spec, population.answers, ids))
        uow.commit()
    progress.advance("store", len(population) % STEP if responses else len(population))
    return (int(ids.min()), int(ids.max())) if len(ids) else None


def simulate_and_store(
    uow: UnitOfWork,
    n: int,
    seed: int,
    *,
    today: date,
    bank: Any | None = None,
    progress: Progress = NO_PROGRESS,
    vector_spec: VectorSpec | None = None,
) -> SimulationReport:
    """Generate ``n`` users with ``simulate`` and store them, reporting counts and rows per second.

    Parameters
    ----------
    uow
        A fresh unit of work (``app.uow``).
    n, seed, today, bank
        As for ``simulate``.
    vector_spec
        When given, profile vectors are built and stored with the users (``app.vector_spec``).
    progress
        Receives task ``"generate"`` (one step) and ``"store"`` (one step per user).

    Raises
    ------
    InvalidInputError
        ``n`` is not a usable size (see ``check_users``).
    """
    check_users(n)
    progress.start("generate", 1)
    t0 = time.perf_counter()
    population = simulate(n, seed, today=today, bank=bank)
    t1 = time.perf_counter()
    progress.advance("generate")
    id_range = save_population(uow, population, progress=progress, vector_spec=vector_spec)
    t2 = time.perf_counter()
    return SimulationReport(
        users=n,
        seed=seed,
        today=today,
        summary=population.summary(),
        user_ids=id_range,
        generate_s=round(t1 - t0, 3),
        store_s=round(t2 - t1, 3),
        seconds=round(t2 - t0, 3),
        rows_per_s=round(n / (t2 - t0), 1),
    )
