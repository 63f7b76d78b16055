"""OkCupid reader: mapping, skip reasons, malformed rows, gzip, and the real shared file."""

from __future__ import annotations

import gzip
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.errors import ImportRowError, InvalidInputError
from perfectmatch.frame import GENDERS
from perfectmatch.models import Gender, QuestionnaireResponse
from perfectmatch.populations import okcupid_mapping as mp
from perfectmatch.populations.bayarea import bay_area
from perfectmatch.populations.okcupid import (
    MISSING_TEXTS,
    SKIP_DUPLICATE,
    SKIP_IMPLAUSIBLE_AGE,
    SKIP_MALFORMED,
    SKIP_MARRIED,
    SKIP_ORIENTATION,
    SKIP_SEX,
    SKIP_UNDER_AGE,
    read_okcupid,
)
from perfectmatch.questionnaire import default_bank

TODAY = date(2026, 11, 25)
REAL_FILE = Path("/work/shared/data/okcupid/okcupid_profiles_revised_shared.csv.gz")
HEADER = ("row_id,age,body_type,diet,drinks,drugs,education,ethnicity,height,income,job,offspring,"
          "orientation,pets,religion,sex,sign,smokes,speaks,status")
ROWS = [
    # line 2: straight man, full lifestyle
    '0,30,athletic,strictly vegan,very often,never,dropped out of masters program,white,70,-1,other,'
    '"doesn&rsquo;t have kids, but wants them",straight,likes dogs and has cats,'
    "judaism but not too serious about it,m,leo,no,english,single",
    # line 3: gay woman, sparse
    "1,45,,,socially,,graduated from ph.d program,,65,-1,,,gay,,,f,,,english,seeing someone",
    # line 4: bisexual man
    "2,22,thin,mostly anything,rarely,sometimes,working on college/university,,71,-1,,,bisexual,,"
    "atheism,m,,when drinking,english,available",
    "3,40,,,,,,,,-1,,,straight,,,f,,,english,married",  # line 5: married
    "4,17,,,,,,,,-1,,,straight,,,m,,,english,single",  # line 6: under age
    "5,109,,,,,,,,-1,,,straight,,,m,,,english,single",  # line 7: implausible
    "6,33,,,,,,,,-1,,,straight,,,,,,english,single",  # line 8: no sex
    "7,33,,,,,,,,-1,,,,,,m,,,english,single",  # line 9: no orientation
    "8,33,,,,,,,,-1,,,straight,,,m,,,english",  # line 10: a field short -> malformed
    "9,thirty,,,,,,,,-1,,,straight,,,m,,,english,single",  # line 11: bad age -> malformed
    "2,50,,,,,,,,-1,,,straight,,,f,,,english,single",  # line 12: repeated row_id
    "10,64,,,,,,,,-1,,,straight,,,f,,,english,unknown",  # line 13: fine
]


def _write(tmp_path: Path, rows: list[str], *, gz: bool = False) -> Path:
    text = "\n".join([HEADER, *rows]) + "\n"
    path = tmp_path / ("p.csv.gz" if gz else "p.csv")
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _answer(rows, i: int, qid: str):  # type: ignore[no-untyped-def]
    return {a.question_id: a for a in rows.responses[i].answers}.get(qid)


def test_counts_and_reasons(tmp_path: Path) -> None:
    rows = read_okcupid(_write(tmp_path, ROWS), today=TODAY, skip_malformed=True)
    assert rows.rows_read == 12
    assert list(rows.frame.source_id) == ["0", "1", "2", "10"]
    assert rows.skipped == {
        SKIP_DUPLICATE: 1, SKIP_IMPLAUSIBLE_AGE: 1, SKIP_MALFORMED: 2, SKIP_MARRIED: 1,
        SKIP_ORIENTATION: 1, SKIP_SEX: 1, SKIP_UNDER_AGE: 1,
    }
    assert rows.malformed == ["line 10: expected 20 fields, got 19", "line 11: age 'thirty' is not a whole number"]
    assert rows.frame.validate(today=TODAY) == []
    assert (rows.frame.source == "okcupid").all()


def test_malformed_row_fails_the_read_with_its_line_by_default(tmp_path: Path) -> None:
    with pytest.raises(ImportRowError, match=r"line 10: expected 20 fields, got 19 \(and 1 more") as err:
        read_okcupid(_write(tmp_path, ROWS), today=TODAY)
    assert err.value.line == 10
    assert "\n" not in str(err.value)


def test_broken_quoting_is_malformed(tmp_path: Path) -> None:
    path = _write(tmp_path, [ROWS[1], '11,30,,,,,,,,-1,,"unterminated,straight,,,m,,,english,single'])
    with pytest.raises(ImportRowError, match="line"):
        read_okcupid(path, today=TODAY)


def test_demographics_and_preferences(tmp_path: Path) -> None:
    rows = read_okcupid(_write(tmp_path, ROWS), today=TODAY, skip_malformed=True)
    f = rows.frame
    man, woman = 1 << GENDERS.index(Gender.MAN), 1 << GENDERS.index(Gender.WOMAN)
    assert [GENDERS[g].value for g in f.gender] == ["man", "woman", "man", "woman"]
    assert list(f.seeks) == [woman, woman, man | woman, man]
    assert list(f.ages_on(TODAY)) == [30, 45, 22, 64]
    assert list(f.age_min) == [22, 36, 18, 53] and list(f.age_max) == [38, 54, 29, 75]
    region = bay_area()
    assert set(f.place) <= set(region.place_names)
    assert ((f.lat > 37.3) & (f.lat < 38.3) & (f.lon > -122.9) & (f.lon < -121.8)).all()


def test_lifestyle_answers_follow_the_documented_mapping(tmp_path: Path) -> None:
    rows = read_okcupid(_write(tmp_path, ROWS), today=TODAY, skip_malformed=True)
    assert _answer(rows, 0, "rc_children").value == "no_kids_wants"  # HTML entity unescaped
    diet = _answer(rows, 0, "lc_diet")
    assert (diet.value, diet.importance) == ("vegan", 8)
    assert _answer(rows, 0, "lc_drinks").value == "very_often"
    assert _answer(rows, 0, "lc_pets").value == ("likes_dogs", "has_cats")
    religion = _answer(rows, 0, "cv_religion")
    assert (religion.value, religion.importance) == ("jewish", 3)
    assert _answer(rows, 0, "cv_religion_importance").value == 2
    assert _answer(rows, 0, "cv_education").value == "bachelors"
    assert _answer(rows, 0, "lc_body_type").value == "athletic"
    assert _answer(rows, 1, "cv_education").value == "doctorate"
    assert _answer(rows, 1, "lc_diet") is None  # blank stays unanswered
    assert _answer(rows, 2, "lc_smokes").value == "when_drinking"
    assert _answer(rows, 2, "cv_religion_importance") is None  # no qualifier given
    assert _answer(rows, 2, "cv_education").value == "bachelors"
    r = rows.responses[0]
    assert r.open_texts == {} and r.open_texts_missing_reason == MISSING_TEXTS


def test_every_mapped_option_exists_in_the_default_bank() -> None:
    bank = default_bank()
    tables = {
        "lc_drinks": mp.DRINKS.values(), "lc_smokes": mp.SMOKES.values(), "lc_drugs": mp.DRUGS.values(),
        "lc_diet": mp.DIETS, "lc_pets": mp.PETS.values(), "cv_religion": mp.RELIGIONS.values(),
        "rc_children": mp.OFFSPRING.values(), "cv_education": [*mp.EDUCATION_LEVEL.values(),
                                                              *mp.EDUCATION_DROPPED.values()],
        "lc_body_type": mp.BODY_TYPES.values(),
    }
    for qid, options in tables.items():
        assert set(options) <= set(bank.question(qid).option_ids), qid
    lo, hi = bank.question("cv_religion_importance").bounds
    assert all(lo <= v <= hi for v, _ in mp.RELIGION_SERIOUSNESS.values())


def test_gzip_and_plain_files_read_the_same(tmp_path: Path) -> None:
    a = read_okcupid(_write(tmp_path, ROWS[:3]), today=TODAY, seed=4)
    b = read_okcupid(_write(tmp_path, ROWS[:3], gz=True), today=TODAY, seed=4)
    assert np.array_equal(a.frame.lat, b.frame.lat)
    assert np.array_equal(a.answers.values, b.answers.values, equal_nan=True)


def test_known_rows_are_counted_not_returned(tmp_path: Path) -> None:
    rows = read_okcupid(_write(tmp_path, ROWS[:3]), today=TODAY, known=frozenset({"0", "2"}))
    assert list(rows.frame.source_id) == ["1"] and rows.already_imported == 2


def test_missing_file_and_missing_column(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        read_okcupid(tmp_path / "absent.csv.gz", today=TODAY)
    bad = tmp_path / "bad.csv"
    bad.write_text("row_id,age\n1,30\n")
    with pytest.raises(InvalidInputError, match="missing column"):
        read_okcupid(bad, today=TODAY)


@pytest.mark.skipif(not REAL_FILE.exists(), reason="the shared OkCupid file is not on this machine")
def test_real_shared_file_parses() -> None:
    rows = read_okcupid(REAL_FILE, today=TODAY)
    assert rows.rows_read == 47_957 and rows.malformed == []
    assert rows.skipped == {SKIP_MARRIED: 246, SKIP_UNDER_AGE: 77, SKIP_IMPLAUSIBLE_AGE: 2}
    assert len(rows.frame) == 47_957 - 246 - 77 - 2
    assert rows.frame.validate(today=TODAY) == []
    bank = default_bank()
    answered = ~np.isnan(rows.answers.values[:, bank.question_ids.index("lc_drinks")])
    assert answered.mean() > 0.9
    men = rows.frame.gender == GENDERS.index(Gender.MAN)
    assert 0.55 < men.mean() < 0.65


_VOCAB = {
    "body_type": [*mp.BODY_TYPES, "", "weird"],
    "diet": ["", "mostly anything", "strictly vegan", "halal", "mostly other", "strictly paleo"],
    "drinks": [*mp.DRINKS, ""],
    "drugs": [*mp.DRUGS, ""],
    "education": ["", "graduated from law school", "dropped out of space camp", "working on ph.d program",
                  "two-year college", "dropped out of high school", "juggling school"],
    "offspring": [*(k.replace("'", "&rsquo;") for k in mp.OFFSPRING), "has kids", ""],
    "pets": ["", "likes dogs and likes cats", "has dogs", "dislikes cats", "has dogs and has cats", "has fish"],
    "religion": ["", "atheism", "islam and very serious about it", "other and laughing about it", "pastafarian"],
    "smokes": [*mp.SMOKES, ""],
    "orientation": ["straight", "gay", "bisexual"],
    "sex": ["m", "f"],
    "status": ["single", "available", "seeing someone", "unknown"],
}


@settings(max_examples=20, deadline=None)
@given(data=st.data(), n=st.integers(1, 12))
def test_any_vocabulary_mix_gives_valid_users_and_answers(data: st.DataObject, n: int) -> None:
    bank = default_bank()
    lines = []
    for i in range(n):
        pick = {k: data.draw(st.sampled_from(v)) for k, v in _VOCAB.items()}
        age = data.draw(st.integers(18, 100))
        lines.append(
            f'{i},{age},{pick["body_type"]},{pick["diet"]},{pick["drinks"]},{pick["drugs"]},{pick["education"]},'
            f',70,-1,,"{pick["offspring"]}",{pick["orientation"]},{pick["pets"]},{pick["religion"]},{pick["sex"]},'
            f',{pick["smokes"]},english,{pick["status"]}'
        )
    with tempfile.TemporaryDirectory() as tmp:
        rows = read_okcupid(_write(Path(tmp), lines), today=TODAY)
    assert len(rows.frame) == n and rows.skipped == {}
    assert rows.frame.validate(today=TODAY) == []
    for r in rows.responses:
        again = QuestionnaireResponse.model_validate(r.model_dump())
        for a in again.answers:
            q = bank.question(a.question_id)
            values = a.value if isinstance(a.value, tuple) else (a.value,)
            assert q.type.value == "likert" or set(values) <= set(q.option_ids)


def test_truncated_gzip_and_bom(tmp_path: Path) -> None:
    whole = _write(tmp_path, ROWS[:3] * 200, gz=True).read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InvalidInputError, match="not a readable gzip file"):
        read_okcupid(cut, today=TODAY)
    bom = tmp_path / "bom.csv"
    bom.write_text("\ufeff" + "\n".join([HEADER, ROWS[1]]) + "\n", encoding="utf-8")
    assert len(read_okcupid(bom, today=TODAY).frame) == 1
