"""Does our compatibility score predict who says yes? The Columbia speed-dating experiment.

Fisman, Iyengar, Kamenica & Simonson (2006) ran four-minute dates between students; after each
date both people said yes or no (``dec``), and a ``match`` is two yeses. Before the event everyone
filled in a sign-up survey. This module maps each participant, **using only the sign-up survey**,
into our questionnaire (answers with importance ratings) and profile (age range, relationship
goal), scores every date with the library's own scoring (``matching.scoring.reciprocal_scores``
over the per-dimension similarities of ``matching.vectors`` vectors, then ``final_scores``), and
measures the ROC AUC for ``match`` and each side's ``dec`` against baselines.

What may be used (``PRE_DATE_FEATURES``)
----------------------------------------
Age, gender, race, field (coded), goal, dating and going-out frequency, the 17 interest ratings,
the stated attribute preferences ``*1_1`` (waves 6-9 rated each attribute 1-10, the others split 100
points: both become shares of 100), the self-ratings ``*3_1``, importance of same race and same
religion, expected happiness. Nothing rated on or after the night (``AFTER_DATE_COLUMNS``) is read
as an input (the self-ratings are the sign-up ones, ``*3_1``, never the night's ratings of the
partner or the later ``*3_s``/``*3_2``/``*3_3``); ``dec``/``match`` are read only as labels.
``int_corr`` (the organisers' correlation of the two sign-up interest profiles) is pre-date in
origin but is not read: the interest similarity is recomputed from the 17 ratings, so every input
is visibly ours. Also not read: ``expnum`` (asked in a few waves only), ``attr2_1``/``attr4_1``/
``attr5_1`` (beliefs about others), income, zip code, tuition, SAT, career and the date-order
variables.

Mapping into the default questionnaire (``to_answers``)
------------------------------------------------------
======================  ======================================  ===================================
question                from                                    how
======================  ======================================  ===================================
rc_goal                 goal                                    1 fun night out, 5 say I did it ->
                                                                unsure; 2 meet people -> friendship;
                                                                3 get a date -> casual; 4 serious
                                                                relationship -> long_term; 6 -> none
rc_casual_frequency     date (how often on dates)               1-3 weekly, 4-5 few_per_month,
                                                                6-7 spontaneous
rc_partner_traits       stated preferences (top 3 shares)       attr looks, sinc loyalty, intel
                                                                intelligence, fun humour, amb
                                                                ambition (shar has no option)
lc_weekend_out          go_out                                  1-7 -> Likert 5-1
lc_exercise             max(sports, exercise)                   1-3 never, 4-5 monthly, 6-8 weekly,
                                                                9-10 daily
lc_outdoors             mean(hiking, sports)                    1-10 -> Likert 1-5
lc_evening_home         mean(tv, movies)                        1-10 -> Likert 1-5
lc_experiences          shopping                                reversed: 1-10 -> Likert 5-1
rc_friend_activities    interests rated 7 or more               sport (sports, tvsports, exercise),
                                                                culture (museums, art, theater),
                                                                food (dining), games (gaming),
                                                                outdoors (hiking), nightlife
                                                                (clubbing, concerts)
cs_E1 (life of party)   self-rated fun                          1-10 -> Likert 1-5
cs_deep_talk            self-rated intelligence                 1-10 -> Likert 1-5
cv_career               self-rated ambition                     1-10 -> Likert 1-5
cv_honesty              self-rated sincerity                    1-10 -> Likert 1-5
cv_religious_partner    imprelig                                1-10 -> Likert 1-5
cv_education            field_cd                                law, medicine -> professional;
                                                                undergrad -> some_college; other ->
                                                                masters (graduate students)
======================  ======================================  ===================================

Importance (1-10) of each answer: the share of the matching stated preference, scaled so an even
split (16.7 of 100) is 5 and a double share 10: shared interests for the lifestyle answers, fun for
cs_E1, intelligence for cs_deep_talk, ambition for cv_career, sincerity for cv_honesty; imprelig
itself for cv_religious_partner; 5 otherwise. Race and ``imprace`` are not mapped: the product keeps
ethnicity out of matching. Attractiveness has no question either. ``exphappy`` (expected happiness)
is not mapped: its only candidate is one emotional-stability item, and a one-item block's cosine is
just a sign test, so the EI dimension stays unanswered (unknown: the scoring leaves it out). The
profile's age range is the OkCupid import's ``[age - 5 - age // 10, age + 5 + age // 10]`` and the
goal is ``rc_goal``'s; the mutual prefilter (``matching.prefilter``: ages and goals) is reported as
its own row, not folded into the score.

Stated-preference fit (``fit_terms``)
-------------------------------------
The questionnaire answers are compared by similarity, which cannot say whether a partner *is* what
a person *wants*. The library's scoring takes such directional fit terms (``matching.scoring``,
``age_fit`` and ``preference_fit``, each counted like one dimension of average importance in the
asking person's directional score); two are mapped from the sign-up survey:

- ``age``: the partner's age against the profile's accepted range above (1 at its middle, 0 at its
  edges);
- ``wants``: the stated preferences ``attr1_1 sinc1_1 intel1_1 fun1_1 amb1_1`` (shares) against the
  partner's sign-up self-ratings ``attr3_1 sinc3_1 intel3_1 fun3_1 amb3_1`` (``WANTS_VS_SELF``).

How this was chosen, to be judged for forking paths: on the shared waves 1-14 we compared about a
dozen unsupervised variants, all by match AUC: the reciprocal combination (harmonic, arithmetic,
geometric, min, max of the two directions: 0.552-0.562 without fit terms; the harmonic mean was
kept, it is the library's documented rule), the age term centred on the range or on the person's own
age (0.568 / about 0.572 alone with the similarities), the wants term with and without
attractiveness (0.561 / about 0.56), and both together (0.576 adopted, up to 0.579; "about": measured
on a prototype whose fit weight differed slightly). The adopted pair (range centre, all five
attributes) is the one that uses only what the product's profile has (an accepted age range) and
every stated preference, not the best-scoring one. Same field (0.530 alone), same goal (0.503),
per-person-centred interest correlation (0.522, against 0.523 for the plain cosine) and same race
(0.491; not used by the product) were measured one by one and not added.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from perfectmatch.errors import ImportRowError, InvalidInputError
from perfectmatch.models import Answer, Dimension, RelationshipGoal

# ----------------------------------------------------------------------------------------- columns
INTERESTS: tuple[str, ...] = (
    "sports",
    "tvsports",
    "exercise",
    "dining",
    "museums",
    "art",
    "hiking",
    "gaming",
    "clubbing",
    "reading",
    "tv",
    "theater",
    "movies",
    "concerts",
    "music",
    "shopping",
    "yoga",
)
PREFERENCES: tuple[str, ...] = ("attr1_1", "sinc1_1", "intel1_1", "fun1_1", "amb1_1", "shar1_1")
SELF_RATINGS: tuple[str, ...] = ("attr3_1", "sinc3_1", "intel3_1", "fun3_1", "amb3_1")
#: Every column read as an input: the sign-up (Time 1) survey, filled in before the event.
PRE_DATE_FEATURES: tuple[str, ...] = (
    "age",
    "gender",
    "race",
    "field_cd",
    "goal",
    "date",
    "go_out",
    *INTERESTS,
    *PREFERENCES,
    *SELF_RATINGS,
    "imprace",
    "imprelig",
    "exphappy",
)
#: Who met whom (identifiers, never model inputs).
KEY_COLUMNS: tuple[str, ...] = ("iid", "pid", "wave")
#: Outcomes of the night, read only as labels.
LABEL_COLUMNS: tuple[str, ...] = ("dec", "match")
_ATTRS6 = ("attr", "sinc", "intel", "fun", "amb", "shar")
_ATTRS5 = ("attr", "sinc", "intel", "fun", "amb")
#: Columns recorded on the night of the event or later (data key: scorecard, half-way, Time 2 and
#: Time 3 surveys) and the partner-side copies of them; none may be an input.
AFTER_DATE_COLUMNS: tuple[str, ...] = (
    "dec",
    "dec_o",
    "match",
    *_ATTRS6,
    "like",
    "prob",
    "met",
    *(f"{a}_o" for a in _ATTRS6),
    "like_o",
    "prob_o",
    "met_o",
    "match_es",
    *(f"{a}1_s" for a in _ATTRS6),
    *(f"{a}3_s" for a in _ATTRS5),
    "satis_2",
    "length",
    "numdat_2",
    *(f"{a}{q}_2" for q in (7, 1, 4, 2) for a in _ATTRS6),
    *(f"{a}{q}_2" for q in (3, 5) for a in _ATTRS5),
    "you_call",
    "them_cal",
    "date_3",
    "numdat_3",
    "num_in_3",
    *(f"{a}{q}_3" for q in (1, 7, 4, 2) for a in _ATTRS6),
    *(f"{a}{q}_3" for q in (3, 5) for a in _ATTRS5),
)

#: Waves whose stated preferences are 1-10 ratings instead of a 100-point split (data key).
TEN_POINT_WAVES = frozenset({6, 7, 8, 9})
_RANGES: dict[str, tuple[float, float]] = {
    "gender": (0, 1),
    "race": (1, 6),
    "field_cd": (1, 18),
    "goal": (1, 6),
    "date": (1, 7),
    "go_out": (1, 7),
    "age": (16, 99),
    **{c: (0, 100) for c in PREFERENCES},
    # 1-10 ratings: the file has a few typos above 10 (gaming 14, reading 13); up to 20 is read and
    # clipped to 10, anything beyond is an error
    **{c: (0, 20) for c in (*INTERESTS, *SELF_RATINGS, "imprace", "imprelig", "exphappy")},
}
_TEN_POINT = (*INTERESTS, *SELF_RATINGS, "imprace", "imprelig", "exphappy")
_COL = {c: k for k, c in enumerate(PRE_DATE_FEATURES)}
DIFFERING = "rows whose sign-up answers differ from the participant's first row (first kept)"


# ------------------------------------------------------------------------------------------ loading
@dataclass(frozen=True)
class SpeedDating:
    """Participants (pre-date features only) and their dates, one row per pair.

    ``features`` is ``(n, len(PRE_DATE_FEATURES))`` float64 with NaN for a missing answer, stated
    preferences already as shares of 100. Pairs are oriented man/woman: ``man``/``woman`` index the
    participants; ``dec_m``/``dec_w`` are each side's decision and ``match`` both yeses.
    """

    source: str
    iid: np.ndarray
    wave: np.ndarray
    features: np.ndarray
    man: np.ndarray
    woman: np.ndarray
    pair_wave: np.ndarray
    match: np.ndarray
    dec_m: np.ndarray
    dec_w: np.ndarray
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        """``(n,)`` one pre-date feature of every participant."""
        return self.features[:, _COL[name]]

    @property
    def n_pairs(self) -> int:
        return int(self.man.size)


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as fh:
        magic = fh.read(2)
    raw: IO[bytes] = gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def _rows(fh: IO[str], source: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(fh, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, EOFError, OSError, gzip.BadGzipFile) as exc:
            raise ImportRowError(source, reader.line_num, f"unreadable CSV ({exc})") from exc
        yield reader.line_num, row


def _number(text: str, source: str, line: int, column: str) -> float:
    text = text.strip().replace(",", "")
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ImportRowError(source, line, f"column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ImportRowError(source, line, f"column {column!r}: {text!r} is not a finite number")
    return value


def load(path: str | Path) -> SpeedDating:
    """Read the speed-dating CSV (plain or gzip) into participants and pairs.

    Only ``KEY_COLUMNS``, ``LABEL_COLUMNS`` and ``PRE_DATE_FEATURES`` are read. Rows without a
    partner id are skipped and counted; each date's two rows become one pair.

    Raises
    ------
    InvalidInputError
        The file is missing or lacks a needed column.
    ImportRowError
        A row has a non-numeric or out-of-range value, a participant appears in two waves, the two
        rows of a date disagree on ``match``, or a date is not between a man and a woman; the message
        names the file, line and column. (A participant whose sign-up answers differ between rows is
        not an error: the first row is kept and the rows are counted in ``skipped``.)
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InvalidInputError(f"{source}: no such file")
    people: dict[int, tuple[int, np.ndarray, int]] = {}  # iid -> (wave, features, first line)
    sides: dict[tuple[int, int], dict[int, tuple[int, int, int]]] = {}  # pair -> {iid: (dec, match, line)}
    skipped = {"rows without partner id": 0, DIFFERING: 0}
    rows = 0
    with _open_text(path) as fh:
        records = _rows(fh, source)
        try:
            _, header = next(records)
        except StopIteration:
            raise InvalidInputError(f"{source}: empty file") from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        index = {h: k for k, h in enumerate(header)}
        needed = (*KEY_COLUMNS, *LABEL_COLUMNS, *PRE_DATE_FEATURES)
        missing = [c for c in needed if c not in index]
        if missing:
            raise InvalidInputError(f"{source}: header lacks column(s) {missing}")
        for line, row in records:
            if not row:
                continue
            rows += 1
            if len(row) != len(header):
                raise ImportRowError(source, line, f"{len(row)} fields, the header has {len(header)}")
            iid, pid, wave = (_number(row[index[c]], source, line, c) for c in KEY_COLUMNS)
            if math.isnan(iid) or math.isnan(wave):
                raise ImportRowError(source, line, "column 'iid' or 'wave' is empty")
            if math.isnan(pid):
                skipped["rows without partner id"] += 1
                continue
            labels = {}
            for c in LABEL_COLUMNS:
                v = _number(row[index[c]], source, line, c)
                if v not in (0.0, 1.0):
                    raise ImportRowError(source, line, f"column {c!r}: {row[index[c]]!r} is not 0 or 1")
                labels[c] = int(v)
            feats = np.array([_number(row[index[c]], source, line, c) for c in PRE_DATE_FEATURES])
            for c, v in zip(PRE_DATE_FEATURES, feats, strict=True):
                lo, hi = _RANGES[c]
                if not math.isnan(v) and not lo <= v <= hi:
                    raise ImportRowError(source, line, f"column {c!r}: {v:g} is outside {lo:g}-{hi:g}")
            if math.isnan(feats[_COL["gender"]]):
                raise ImportRowError(source, line, "column 'gender' is empty")
            me = int(iid)
            known = people.get(me)
            if known is None:
                people[me] = (int(wave), feats, line)
            elif known[0] != int(wave):
                raise ImportRowError(source, line, f"participant {me}: wave {int(wave)} differs from line {known[2]}")
            elif not np.array_equal(known[1], feats, equal_nan=True):
                skipped[DIFFERING] += 1  # the first row's answers are kept
            key = (min(me, int(pid)), max(me, int(pid)))
            entry = sides.setdefault(key, {})
            if me in entry:
                raise ImportRowError(source, line, f"date {key} appears twice for participant {me}")
            other = entry.get(int(pid))
            if other is not None and other[1] != labels["match"]:
                raise ImportRowError(source, line, f"column 'match' disagrees with line {other[2]} of the same date")
            entry[me] = (labels["dec"], labels["match"], line)
    if not people:
        raise InvalidInputError(f"{source}: no data rows")
    iids = np.array(sorted(people), dtype=np.int64)
    waves = np.array([people[i][0] for i in iids], dtype=np.int64)
    features = np.vstack([people[i][1] for i in iids])
    _normalise_preferences(features, waves)
    ten = [_COL[c] for c in _TEN_POINT]
    features[:, ten] = np.clip(features[:, ten], None, 10.0)
    pos = {int(i): k for k, i in enumerate(iids)}
    gender = features[:, _COL["gender"]]
    man, woman, match, dec_m, dec_w = [], [], [], [], []
    skipped["dates seen from one side only"] = 0
    for (a, b), entry in sides.items():
        if len(entry) != 2:  # the partner's row is missing: that side's decision is unknown
            skipped["dates seen from one side only"] += 1
            continue
        ia, ib = pos[a], pos[b]
        if gender[ia] == gender[ib]:
            raise ImportRowError(source, entry[a][2], f"date {a}-{b} is not between a man and a woman")
        m, w = (a, b) if gender[ia] == 1 else (b, a)
        man.append(pos[m])
        woman.append(pos[w])
        match.append(entry[a][1])
        dec_m.append(entry[m][0])
        dec_w.append(entry[w][0])
    if not man:
        raise InvalidInputError(f"{source}: no date is seen from both sides")
    man_a = np.array(man, dtype=np.int64)
    return SpeedDating(
        source=source,
        iid=iids,
        wave=waves,
        features=features,
        man=man_a,
        woman=np.array(woman, dtype=np.int64),
        pair_wave=waves[man_a],
        match=np.array(match, dtype=np.int8),
        dec_m=np.array(dec_m, dtype=np.int8),
        dec_w=np.array(dec_w, dtype=np.int8),
        rows=rows,
        skipped=skipped,
    )


def _normalise_preferences(features: np.ndarray, waves: np.ndarray) -> None:
    """Stated preferences as shares of 100 (in place).

    Waves 6-9 rated each attribute 1-10 and the others split 100 points (``TEN_POINT_WAVES``); the
    published file already rescales waves 6-9 to shares, but a raw copy would not, and rescaling
    every participant's six values to sum to 100 handles both (it also repairs splits that do not
    add up). A 1-10 rating gives flatter shares than a 100-point split, so importance derived from
    them is closer to neutral in waves 6-9.
    """
    cols = [_COL[c] for c in PREFERENCES]
    prefs = features[:, cols]
    total = np.nansum(prefs, axis=1, keepdims=True)
    features[:, cols] = np.divide(100.0 * prefs, total, out=np.full_like(prefs, np.nan), where=total > 0)


# ------------------------------------------------------------------------------------------ mapping
GOALS: dict[int, str] = {1: "unsure", 2: "friendship", 3: "casual", 4: "long_term", 5: "unsure"}
TRAITS: dict[str, str] = {
    "attr1_1": "looks",
    "sinc1_1": "loyalty",
    "intel1_1": "intelligence",
    "fun1_1": "humour",
    "amb1_1": "ambition",
}
ACTIVITIES: dict[str, tuple[str, ...]] = {
    "sport": ("sports", "tvsports", "exercise"),
    "culture": ("museums", "art", "theater"),
    "food": ("dining",),
    "games": ("gaming",),
    "outdoors": ("hiking",),
    "nightlife": ("clubbing", "concerts"),
}
ACTIVITY_THRESHOLD = 7.0
EVEN_SHARE = 100.0 / len(PREFERENCES)


def _likert10(v: float) -> int:
    """A 1-10 rating on the 1-5 Likert scale of the bank (rounded, like a person would answer)."""
    return int(np.clip(round(1.0 + 4.0 * (v - 1.0) / 9.0), 1, 5))


def _likert7(v: float) -> int:
    """A 1-7 frequency (1 = several times a week) on the 1-5 Likert scale, reversed (5 = most often)."""
    return int(np.clip(round(5.0 - 4.0 * (v - 1.0) / 6.0), 1, 5))


def _importance_from_share(share: float) -> int:
    """A stated-preference share of 100 as an importance 1-10: an even split is 5, a double share 10."""
    if math.isnan(share):
        return 5
    return int(np.clip(round(5.0 * share / EVEN_SHARE), 1, 10))


def to_answers(values: Mapping[str, float]) -> list[Answer]:
    """One participant's sign-up answers as answers to the default bank (module docstring table).

    ``values`` maps ``PRE_DATE_FEATURES`` names to numbers (NaN = not answered); preferences are
    shares of 100. Unanswered sign-up questions leave the bank question unanswered.
    """

    def known(*cols: str) -> bool:
        return all(not math.isnan(values[c]) for c in cols)

    imp = {c: _importance_from_share(values[c]) for c in PREFERENCES}
    out: list[Answer] = []
    if known("goal") and int(values["goal"]) in GOALS:
        out.append(Answer(question_id="rc_goal", value=GOALS[int(values["goal"])]))
    if known("date"):
        freq = "weekly" if values["date"] <= 3 else "few_per_month" if values["date"] <= 5 else "spontaneous"
        out.append(Answer(question_id="rc_casual_frequency", value=freq))
    if known(*TRAITS):
        top = sorted(TRAITS, key=lambda c: (-values[c], c))[:3]
        out.append(Answer(question_id="rc_partner_traits", value=tuple(TRAITS[c] for c in top)))
    lifestyle = imp["shar1_1"]
    if known("go_out"):
        out.append(Answer(question_id="lc_weekend_out", value=_likert7(values["go_out"]), importance=lifestyle))
    if known("sports", "exercise"):
        top = max(values["sports"], values["exercise"])
        level = "never" if top <= 3 else "monthly" if top <= 5 else "weekly" if top <= 8 else "daily"
        out.append(Answer(question_id="lc_exercise", value=level, importance=lifestyle))
    for qid, cols, reverse in (
        ("lc_outdoors", ("hiking", "sports"), False),
        ("lc_evening_home", ("tv", "movies"), False),
        ("lc_experiences", ("shopping",), True),
    ):
        if known(*cols):
            v = float(np.mean([values[c] for c in cols]))
            out.append(Answer(question_id=qid, value=_likert10(11.0 - v if reverse else v), importance=lifestyle))
    if known(*INTERESTS):
        chosen = tuple(opt for opt, cols in ACTIVITIES.items() if max(values[c] for c in cols) >= ACTIVITY_THRESHOLD)
        if chosen:
            out.append(Answer(question_id="rc_friend_activities", value=chosen, importance=lifestyle))
    for qid, col, pref in (
        ("cs_E1", "fun3_1", "fun1_1"),
        ("cs_deep_talk", "intel3_1", "intel1_1"),
        ("cv_career", "amb3_1", "amb1_1"),
        ("cv_honesty", "sinc3_1", "sinc1_1"),
    ):
        if known(col):
            out.append(Answer(question_id=qid, value=_likert10(values[col]), importance=imp[pref]))
    if known("imprelig"):
        rel = max(1.0, values["imprelig"])
        out.append(Answer(question_id="cv_religious_partner", value=_likert10(rel), importance=int(rel)))
    if known("field_cd"):
        fc = int(values["field_cd"])
        edu = "professional" if fc in (1, 4) else "some_college" if fc == 12 else "masters"
        out.append(Answer(question_id="cv_education", value=edu))
    return out


def age_range(age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The profile's accepted partner ages: the OkCupid import's rule ``age +- (5 + age // 10)``."""
    spread = 5 + age // 10
    return np.maximum(18, age - spread), age + spread


def relationship_goal(goal: np.ndarray) -> list[RelationshipGoal]:
    """The profile's relationship goal per participant (``GOALS``; unknown -> unsure)."""
    return [
        RelationshipGoal(GOALS.get(int(g), "unsure")) if not math.isnan(g) else RelationshipGoal.UNSURE for g in goal
    ]


#: "What I want" against "what you are": each stated preference meets the partner's self-rating of
#: the same attribute (``shar1_1``, shared interests, has no self-rating: it weights the lifestyle
#: answers instead).
WANTS_VS_SELF: tuple[tuple[str, str], ...] = tuple(zip(PREFERENCES[:5], SELF_RATINGS, strict=True))
#: The stated-preference fit terms of ``our_scores``, in column order.
FIT_TERMS: tuple[str, ...] = ("age", "wants")


def fit_terms(data: SpeedDating, me: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``(m, 2)`` how well each ``other`` meets what ``me`` asked for (``FIT_TERMS``), in ``[0, 1]``.

    ``age``: the partner's age against the profile's accepted range (``matching.scoring.age_fit``);
    ``wants``: the stated preferences (shares of 100) against the partner's self-ratings 1-10 read
    as ``(rating - 1) / 9`` (``matching.scoring.preference_fit``). ``nan`` where unknown.
    """
    from perfectmatch.matching.scoring import age_fit, preference_fit

    age = data.column("age")
    lo, hi = age_range(age)
    wants = np.column_stack([data.column(p) for p, _ in WANTS_VS_SELF])
    levels = (np.column_stack([data.column(r) for _, r in WANTS_VS_SELF]) - 1.0) / 9.0
    return np.column_stack([age_fit(age[other], lo[me], hi[me]), preference_fit(wants[me], levels[other])])


def participant_values(data: SpeedDating, k: int) -> dict[str, float]:
    """Participant ``k``'s pre-date features by name (the input of ``to_answers``)."""
    return {c: float(data.features[k, j]) for j, c in enumerate(PRE_DATE_FEATURES)}


# ------------------------------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class OurScores:
    """The library's score of every pair and its ingredients (``matching.scoring``).

    ``dims`` are the per-dimension similarities, ``fit_man``/``fit_woman`` ``(m, 2)`` the
    stated-preference fit terms (``fit_terms``: how well the partner meets what that person asked
    for), ``man_side``/``woman_side`` the directional scores (how well the partner suits that
    person, by their importance), ``vector`` the reciprocal harmonic mean, ``final`` the 0-100 final
    score (no AI analysis: ``vector`` times the smaller completeness), ``similarity_only`` the final
    score without the fit terms (the library's score before they were added, for comparison) and
    ``eligible`` whether the pair passes the mutual age and goal prefilter.
    """

    dims: dict[str, np.ndarray]
    fit_man: np.ndarray
    fit_woman: np.ndarray
    man_side: np.ndarray
    woman_side: np.ndarray
    vector: np.ndarray
    final: np.ndarray
    similarity_only: np.ndarray
    eligible: np.ndarray

    @property
    def with_prefilter(self) -> np.ndarray:
        """What the engine would do: pairs the prefilter rejects are never proposed (rank last)."""
        return np.where(self.eligible, self.final, -1.0)


def our_scores(data: SpeedDating) -> OurScores:
    """Map every participant into the default bank and score all pairs with the library's scoring."""
    from perfectmatch.adapters.embed.hashing import HashingEmbedder
    from perfectmatch.matching import scoring
    from perfectmatch.matching.prefilter import goals_compatible
    from perfectmatch.matching.vectors import VectorSpec, completeness
    from perfectmatch.questionnaire.encoding import FeatureLayout
    from perfectmatch.questionnaire.loader import default_bank

    layout = FeatureLayout.from_bank(default_bank())
    spec = VectorSpec(layout, HashingEmbedder(8), text_weight=0.0)  # no open texts in the survey
    n = data.iid.size
    values = np.full((n, len(layout.question_ids)), np.nan)
    importance = np.full_like(values, np.nan)
    for k in range(n):
        values[k], importance[k] = layout.to_row(to_answers(participant_values(data, k)))
    feats, imp = layout.encode_matrix(values, importance)
    vecs = spec.build(feats, np.zeros((n, spec.embedder.dim), dtype=np.float32))
    m, w = data.man, data.woman
    dims = scoring.block_similarities(vecs[m], vecs[w], {d: spec.slices[d.value] for d in Dimension})
    sims = np.stack([dims[d.value] for d in Dimension], axis=1)
    fit_m, fit_w = fit_terms(data, m, w), fit_terms(data, w, m)
    vector = scoring.reciprocal_scores(dims, imp[m], imp[w], fit_a=fit_m, fit_b=fit_w)
    comp = completeness(values, np.zeros(n))
    no_ai = np.full(vector.size, np.nan)
    final, _ = scoring.final_scores(vector, no_ai, comp[m], comp[w])
    similarity_only, _ = scoring.final_scores(scoring.reciprocal_scores(dims, imp[m], imp[w]), no_ai, comp[m], comp[w])
    age = data.column("age")
    lo, hi = age_range(age)
    ok_age = (age[m] >= lo[w]) & (age[m] <= hi[w]) & (age[w] >= lo[m]) & (age[w] <= hi[m])
    ok_age |= np.isnan(age[m]) | np.isnan(age[w])  # an unknown age cannot be filtered on
    goals = relationship_goal(data.column("goal"))
    ok_goal = np.array([goals_compatible(goals[a], goals[b]) for a, b in zip(m, w, strict=True)], dtype=bool)
    return OurScores(
        dims=dims,
        fit_man=fit_m,
        fit_woman=fit_w,
        man_side=scoring.directional_scores(sims, imp[m], fit=fit_m),
        woman_side=scoring.directional_scores(sims, imp[w], fit=fit_w),
        vector=vector,
        final=final,
        similarity_only=similarity_only,
        eligible=ok_age & ok_goal,
    )


# ---------------------------------------------------------------------------------------- baselines
def _interests(data: SpeedDating) -> np.ndarray:
    return data.features[:, [_COL[c] for c in INTERESTS]]


def interest_cosine(data: SpeedDating) -> np.ndarray:
    """Cosine of the two 17-interest rating vectors (0 where either is missing): interests only."""
    x = np.nan_to_num(_interests(data))
    a, b = x[data.man], x[data.woman]
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide((a * b).sum(axis=1), den, out=np.zeros(a.shape[0]), where=den > 0)


#: OkCupid's importance levels (Rudder's "match percentage" talk): irrelevant, a little, somewhat,
#: very, mandatory.
OKCUPID_POINTS = (0.0, 1.0, 10.0, 50.0, 250.0)


def _okcupid_level(rating: np.ndarray) -> np.ndarray:
    """A 1-10 importance as OkCupid points: 1-2 irrelevant, 3-4 a little, 5-6 somewhat, 7-8 very, 9-10 mandatory."""
    level = np.clip((np.nan_to_num(rating, nan=5.0) - 1) // 2, 0, 4).astype(np.int64)
    return np.asarray(OKCUPID_POINTS)[level]


def okcupid_mutual(data: SpeedDating) -> np.ndarray:
    """OkCupid-style match percentage: the geometric mean of both sides' importance-weighted satisfaction.

    Each person "asks" the partner: the 17 interests (acceptable within 2 points; importance from
    the shared-interests share), the same race (importance ``imprace``), a similar going-out and
    dating frequency (within 1 step; importance 5) and an age in their range (importance 5).
    Satisfaction is the share of importance points the partner earns; the pair's score is
    ``sqrt(s_ab * s_ba)``, as OkCupid computes it. A question either side left blank is skipped.
    """
    f = data.features
    m, w = data.man, data.woman

    def side(me: np.ndarray, other: np.ndarray) -> np.ndarray:
        earned = np.zeros(me.size)
        total = np.zeros(me.size)

        def ask(ok: np.ndarray, known: np.ndarray, points: np.ndarray) -> None:
            nonlocal earned, total
            points = np.where(known, points, 0.0)
            earned = earned + points * ok
            total = total + points

        interests = _interests(data)
        share = f[me, _COL["shar1_1"]]
        pts = _okcupid_level(np.clip(np.round(share / EVEN_SHARE * 5.0), 1, 10))
        for j in range(len(INTERESTS)):
            a, b = interests[me, j], interests[other, j]
            ask(np.abs(a - b) <= 2, ~np.isnan(a) & ~np.isnan(b), pts)
        ra, rb = f[me, _COL["race"]], f[other, _COL["race"]]
        ask(ra == rb, ~np.isnan(ra) & ~np.isnan(rb), _okcupid_level(f[me, _COL["imprace"]]))
        for c in ("go_out", "date"):
            a, b = f[me, _COL[c]], f[other, _COL[c]]
            ask(np.abs(a - b) <= 1, ~np.isnan(a) & ~np.isnan(b), np.full(me.size, _okcupid_level(np.array([5.0]))[0]))
        age_me, age_other = f[me, _COL["age"]], f[other, _COL["age"]]
        lo, hi = age_range(age_me)
        ask((age_other >= lo) & (age_other <= hi), ~np.isnan(age_me) & ~np.isnan(age_other), np.full(me.size, 10.0))
        return np.divide(earned, total, out=np.full(me.size, 0.5), where=total > 0)

    return np.sqrt(side(m, w) * side(w, m))


def pair_features(data: SpeedDating, ours: OurScores | None = None) -> tuple[np.ndarray, list[str]]:
    """Inputs of the supervised baseline: both sides' pre-date features plus pair differences.

    Only ``PRE_DATE_FEATURES`` (and our score's ingredients, themselves computed from them) enter.
    """
    f = data.features
    cols: list[np.ndarray] = []
    names: list[str] = []
    for side, idx in (("m", data.man), ("w", data.woman)):
        for c in PRE_DATE_FEATURES:
            if c != "gender":
                cols.append(f[idx, _COL[c]])
                names.append(f"{side}.{c}")
    age_m, age_w = f[data.man, _COL["age"]], f[data.woman, _COL["age"]]
    extra = {
        "age_gap": age_m - age_w,
        "abs_age_gap": np.abs(age_m - age_w),
        "same_race": (f[data.man, _COL["race"]] == f[data.woman, _COL["race"]]).astype(float),
        "same_field": (f[data.man, _COL["field_cd"]] == f[data.woman, _COL["field_cd"]]).astype(float),
        "interest_cosine": interest_cosine(data),
    }
    if ours is not None:
        extra.update({f"sim_{k}": np.nan_to_num(v, nan=0.5) for k, v in ours.dims.items()})
        extra["eligible"] = ours.eligible.astype(float)
    for k, v in extra.items():
        cols.append(np.asarray(v, dtype=np.float64))
        names.append(k)
    return np.column_stack(cols), names


def calibration_features(ours: OurScores) -> tuple[np.ndarray, list[str]]:
    """Inputs of the calibrated score: the components of our score, each with its own fitted weight.

    The five per-dimension similarities and both sides' stated-preference fit terms (``FIT_TERMS``);
    the aggregates built from them (directional, reciprocal and final scores) are left out, so the
    model is small and its weights say how much each component should count. A component the
    library leaves unknown (``nan``: a block one side did not answer, an unknown age) enters as the
    neutral 0.5, so the fitted weights apply to every pair.
    """
    names = [f"sim_{d.value}" for d in Dimension]
    names += [f"{side}_fit_{t}" for side in ("man", "woman") for t in FIT_TERMS]
    cols = [ours.dims[d.value] for d in Dimension]
    x = np.column_stack([*cols, ours.fit_man, ours.fit_woman]).astype(np.float64)
    return np.nan_to_num(x, nan=0.5), names
