"""Import the OkCupid profiles data set (2021 revised release) as dating users.

The file is a (gzip) CSV read with the stdlib ``csv`` module; HTML entities are unescaped. Fields
become a profile, preferences and structured answers as documented in ``okcupid_mapping``. Homes
come from the seeded Bay Area model in ``bayarea`` (the release has no location); display names
are synthetic (the release has no usernames); open-ended answers are empty and marked
``open_texts_missing_reason = "not in the 2021 release"`` (the essays were removed).

Rows that cannot be a dating user are skipped with a reason (``SKIP_*``): status married, under 18,
an implausible age (over 100, noise added by the authors), missing or unknown sex or orientation,
and a repeated ``row_id``. A malformed row (wrong number of fields, a non-numeric ``row_id`` or
``age``, broken quoting) stops the import with its line number unless ``skip_malformed`` is set,
in which case it is skipped and listed with its line number. The import is idempotent: users are
stored with ``source="okcupid"`` and ``source_id=row_id``, and rows already imported are counted as
such and not stored again. Everything is written in one transaction.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from perfectmatch.errors import ImportRowError, InvalidInputError
from perfectmatch.frame import GENDERS, GOALS, STATUSES, TIERS, PopulationFrame, seeks_mask
from perfectmatch.models import Gender, QuestionnaireResponse, RelationshipGoal, Tier, UserStatus
from perfectmatch.populations import okcupid_mapping as mp
from perfectmatch.populations.answers import AnswerMatrix
from perfectmatch.populations.bayarea import place_in_bay_area
from perfectmatch.populations.names import display_names
from perfectmatch.populations.responses import ResponseSequence, score_dimensions
from perfectmatch.populations.simulate import birth_days
from perfectmatch.populations.store import STEP, TrackedResponses
from perfectmatch.ports import NO_PROGRESS, Progress, UnitOfWork

SOURCE = "okcupid"
MISSING_TEXTS = "not in the 2021 release"
REQUIRED = ("row_id", "age", "sex", "orientation", "status")
LIFESTYLE = ("body_type", "diet", "drinks", "drugs", "education", "offspring", "pets", "religion", "smokes")
MAX_PLAUSIBLE_AGE = 100
RADIUS_KM = 40.0
SKIP_MARRIED = "status married"
SKIP_UNDER_AGE = "under 18"
SKIP_IMPLAUSIBLE_AGE = f"implausible age (over {MAX_PLAUSIBLE_AGE})"
SKIP_SEX = "missing or unknown sex"
SKIP_ORIENTATION = "missing or unknown orientation"
SKIP_DUPLICATE = "duplicate row_id"
SKIP_MALFORMED = "malformed row"
QUESTIONS = (
    "lc_drinks", "lc_smokes", "lc_drugs", "lc_diet", "lc_pets", "cv_religion", "cv_religion_importance",
    "rc_children", "cv_education", "lc_body_type",
)


@dataclass
class OkCupidRows:
    """Parsed rows ready to store: the frame, answers, and what was left out and why."""

    frame: PopulationFrame
    answers: AnswerMatrix
    rows_read: int
    already_imported: int
    skipped: dict[str, int]
    malformed: list[str]

    @property
    def responses(self) -> Sequence[QuestionnaireResponse]:
        return ResponseSequence(self.answers)


@dataclass
class ImportReport:
    """What an import did: rows read, imported, already present, skipped by reason, speed."""

    path: str
    rows_read: int
    imported: int
    already_imported: int
    skipped: dict[str, int]
    malformed_lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rows_per_s: float = 0.0
    user_ids: tuple[int, int] | None = None  # first and last new id


def check_file(path: str | Path) -> Path:
    """Return ``path`` if it is a readable file.

    Raises
    ------
    InvalidInputError
        The path does not exist or is not a file.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    if not path.is_file():
        raise InvalidInputError(f"{path}: not a file")
    return path


def _open_text(path: Path) -> IO[str]:
    check_file(path)
    with path.open("rb") as fh:
        magic = fh.read(2)
    raw: IO[bytes] = gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def _clean(value: str) -> str:
    return html.unescape(value).replace("\u2019", "'").strip().lower() if value else ""


def _records(fh: IO[str], source: str) -> Iterator[tuple[int, list[str] | str]]:
    """``(line, fields)`` per data row, or ``(line, problem)`` for a row the CSV reader rejects."""
    reader = csv.reader(fh, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"broken CSV quoting ({exc})"
            continue
        except UnicodeError as exc:  # pragma: no cover - errors="replace" makes this unreachable
            raise InvalidInputError(f"{source}: not UTF-8 text ({exc})") from exc
        yield reader.line_num, row


def _age_range(ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spread = 5 + ages // 10
    return np.maximum(18, ages - spread).astype(np.int16), (ages + spread).astype(np.int16)


class _Builder:
    """Collects accepted rows column by column."""

    def __init__(self, bank: Any) -> None:
        self.bank = bank
        qids = tuple(bank.question_ids)
        missing = [q for q in QUESTIONS if q not in qids]
        if missing:
            raise InvalidInputError(f"question bank {bank.version!r} lacks the OkCupid questions {missing}")
        self.col = {q: qids.index(q) for q in QUESTIONS}
        self.opt = {q: {o.id: k for k, o in enumerate(bank.question(q).options)} for q in QUESTIONS}
        self.rows: list[tuple[str, int, str, tuple[str, ...]]] = []
        self.answers: list[list[tuple[int, float, int]]] = []

    def _choice(self, out: list[tuple[int, float, int]], q: str, option: str | None, importance: int = 5) -> None:
        if option is not None:
            out.append((self.col[q], float(self.opt[q][option]), importance))

    def add(self, source_id: str, age: int, sex: str, seeks: tuple[str, ...], f: Mapping[str, str]) -> None:
        out: list[tuple[int, float, int]] = []
        self._choice(out, "lc_drinks", mp.DRINKS.get(f["drinks"]))
        self._choice(out, "lc_smokes", mp.SMOKES.get(f["smokes"]))
        self._choice(out, "lc_drugs", mp.DRUGS.get(f["drugs"]))
        d = mp.diet(f["diet"])
        if d:
            self._choice(out, "lc_diet", d[0], d[1])
        pets = mp.pets(f["pets"])
        if pets:
            mask = sum(1 << self.opt["lc_pets"][p] for p in set(pets))
            out.append((self.col["lc_pets"], float(mask), 5))
        r = mp.religion(f["religion"])
        if r:
            self._choice(out, "cv_religion", r[0], r[2])
            if r[1] is not None:
                out.append((self.col["cv_religion_importance"], float(r[1]), 5))
        self._choice(out, "rc_children", mp.OFFSPRING.get(f["offspring"]))
        self._choice(out, "cv_education", mp.education(f["education"]))
        self._choice(out, "lc_body_type", mp.BODY_TYPES.get(f["body_type"]))
        self.rows.append((source_id, age, mp.GENDER_OF_SEX[sex], seeks))
        self.answers.append(out)

    def build(self, *, seed: int, today: date, now: datetime) -> tuple[PopulationFrame, AnswerMatrix]:
        n = len(self.rows)
        rng = np.random.default_rng(seed)
        where = place_in_bay_area(rng, n)
        ages = np.array([r[1] for r in self.rows], dtype=np.int64)
        gender = np.array([GENDERS.index(Gender(r[2])) for r in self.rows], dtype=np.int8)
        age_min, age_max = _age_range(ages)
        ts = int(now.timestamp())
        frame = PopulationFrame(
            ids=np.arange(n, dtype=np.int64),
            gender=gender,
            seeks=np.array([seeks_mask([Gender(g) for g in r[3]]) for r in self.rows], dtype=np.uint8),
            birth_day=birth_days(rng, ages, today),
            lat=where.lat,
            lon=where.lon,
            radius_km=np.full(n, RADIUS_KM, dtype=np.float32),
            age_min=age_min,
            age_max=age_max,
            goal=np.full(n, GOALS.index(RelationshipGoal.UNSURE), dtype=np.int8),
            tier=np.full(n, TIERS.index(Tier.FREE), dtype=np.int8),
            status=np.full(n, STATUSES.index(UserStatus.ACTIVE), dtype=np.int8),
            created_at=np.full(n, ts, dtype=np.int64),
            last_active_at=np.full(n, ts, dtype=np.int64),
            display_name=display_names(rng, gender),
            place=where.place,
            source=np.full(n, SOURCE, dtype=object),
            source_id=np.array([r[0] for r in self.rows], dtype=object),
        )
        answers = AnswerMatrix.unanswered(self.bank, n)
        for i, out in enumerate(self.answers):
            for j, value, importance in out:
                answers.values[i, j] = value
                answers.importance[i, j] = importance
        answers.open_texts_missing_reason = MISSING_TEXTS
        answers.dimension_scores = score_dimensions(answers)
        return frame, answers


def read_okcupid(
    path: str | Path,
    *,
    today: date,
    now: datetime | None = None,
    seed: int = 0,
    bank: Any | None = None,
    known: Mapping[str, int] | frozenset[str] = frozenset(),
    skip_malformed: bool = False,
    progress: Progress = NO_PROGRESS,
) -> OkCupidRows:
    """Parse the OkCupid CSV (plain or gzip) into a frame and answers, without storing anything.

    Parameters
    ----------
    path
        The CSV file (``.csv`` or ``.csv.gz``) with the 2021 release's columns plus ``row_id``.
    today
        Day on which ages are exact (birth dates are drawn to match the file's age on that day).
    now
        Account creation / last-activity time of the imported users (default: midnight of ``today``).
    seed
        Seed of the Bay Area locations, birth days and display names.
    bank
        The question bank whose ids the answers use (default bank if ``None``).
    known
        Source ids already imported: such rows are counted in ``already_imported`` and left out.
    skip_malformed
        Skip malformed rows (listed with their line numbers) instead of raising.
    progress
        Receives ``advance("okcupid: read", 1000)`` every thousand rows.

    Returns
    -------
    OkCupidRows
        The new users in file order, their answers, and the skip counts by reason.

    Raises
    ------
    InvalidInputError
        The file is missing, unreadable, or lacks a required column.
    ImportRowError
        A row is malformed (its line number is given) and ``skip_malformed`` is false.
    """
    if bank is None:
        from perfectmatch.questionnaire import default_bank

        bank = default_bank()
    path = Path(path)
    builder = _Builder(bank)
    skipped: Counter[str] = Counter()
    malformed: list[str] = []
    seen: set[str] = set()
    rows_read = already = 0
    try:
        with _open_text(path) as fh:
            records = _records(fh, str(path))
            first = next(records, None)
            if first is None or isinstance(first[1], str):
                raise InvalidInputError(f"{path}: no CSV header line")
            header = [h.strip() for h in first[1]]
            absent = [c for c in (*REQUIRED, *LIFESTYLE) if c not in header]
            if absent:
                raise InvalidInputError(f"{path}: missing column(s) {', '.join(absent)}")
            idx = {c: header.index(c) for c in (*REQUIRED, *LIFESTYLE)}
            progress.start("okcupid: read", None)
            for line, row in records:
                rows_read += 1
                if rows_read % 1000 == 0:
                    progress.advance("okcupid: read", 1000)
                problem = _malformed(row, len(header), idx)
                if problem:
                    malformed.append(f"line {line}: {problem}")
                    skipped[SKIP_MALFORMED] += 1
                    continue
                assert isinstance(row, list)
                f = {c: _clean(row[k]) for c, k in idx.items()}
                source_id = str(int(f["row_id"]))
                age = int(f["age"])
                reason = _skip_reason(f, age)
                if reason is None and source_id in seen:
                    reason = SKIP_DUPLICATE
                if reason:
                    skipped[reason] += 1
                    continue
                seen.add(source_id)
                if source_id in known:
                    already += 1
                    continue
                builder.add(source_id, age, f["sex"], mp.SEEKS[(f["sex"], f["orientation"])], f)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InvalidInputError(f"{path}: not a readable gzip file ({exc})") from exc
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if malformed and not skip_malformed:
        line = int(malformed[0].split(":")[0].removeprefix("line "))
        more = f" (and {len(malformed) - 1} more malformed row(s))" if len(malformed) > 1 else ""
        raise ImportRowError(
            str(path), line, malformed[0].split(": ", 1)[1] + more + "; nothing was imported "
            "(use --skip-malformed to import the other rows)"
        )
    now = now or datetime.combine(today, datetime.min.time(), UTC)
    frame, answers = builder.build(seed=seed, today=today, now=now)
    return OkCupidRows(frame, answers, rows_read, already, dict(sorted(skipped.items())), malformed)


def _malformed(row: list[str] | str, width: int, idx: Mapping[str, int]) -> str | None:
    if isinstance(row, str):
        return row
    if len(row) != width:
        return f"expected {width} fields, got {len(row)}"
    for col in ("row_id", "age"):
        value = row[idx[col]].strip()
        if not value.lstrip("-").isdigit():
            return f"{col} {value!r} is not a whole number"
    return None


def _skip_reason(f: Mapping[str, str], age: int) -> str | None:
    if f["status"] == "married":
        return SKIP_MARRIED
    if age < 18:
        return SKIP_UNDER_AGE
    if age > MAX_PLAUSIBLE_AGE:
        return SKIP_IMPLAUSIBLE_AGE
    if f["sex"] not in mp.GENDER_OF_SEX:
        return SKIP_SEX
    if (f["sex"], f["orientation"]) not in mp.SEEKS:
        return SKIP_ORIENTATION
    return None


def import_okcupid(
    path: str | Path,
    uow: UnitOfWork,
    *,
    today: date,
    now: datetime | None = None,
    seed: int = 0,
    bank: Any | None = None,
    skip_malformed: bool = False,
    progress: Progress = NO_PROGRESS,
) -> ImportReport:
    """Import the OkCupid file into storage in one transaction; re-running adds nothing.

    Parameters
    ----------
    path
        The CSV file (plain or gzip).
    uow
        A fresh unit of work (``app.uow``); it is entered here and committed once at the end, so a
        failure leaves the database as it was.
    today, now, seed, bank, skip_malformed, progress
        As for ``read_okcupid``.

    Returns
    -------
    ImportReport
        Rows read, imported, already imported, skipped by reason, elapsed seconds and rows/s.

    Raises
    ------
    InvalidInputError, ImportRowError
        As for ``read_okcupid``; nothing is written then.
    """
    start = time.perf_counter()
    check_file(path)
    with uow:
        known = uow.users.ids_by_source(SOURCE)
        rows = read_okcupid(
            path, today=today, now=now, seed=seed, bank=bank, known=known,
            skip_malformed=skip_malformed, progress=progress,
        )
        ids = np.zeros(0, dtype=np.int64)
        if len(rows.frame):
            progress.start("okcupid: store", len(rows.frame))
            ids = uow.population.save(rows.frame, TrackedResponses(rows.responses, progress, "okcupid: store"))
            progress.advance("okcupid: store", len(rows.frame) % STEP)
        uow.commit()
    seconds = time.perf_counter() - start
    return ImportReport(
        path=str(path),
        rows_read=rows.rows_read,
        imported=len(rows.frame),
        already_imported=rows.already_imported,
        skipped=rows.skipped,
        malformed_lines=rows.malformed[:20],
        seconds=round(seconds, 3),
        rows_per_s=round(rows.rows_read / seconds, 1) if seconds > 0 else 0.0,
        user_ids=(int(ids.min()), int(ids.max())) if ids.size else None,
    )
