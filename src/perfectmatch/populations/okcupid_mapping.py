"""How OkCupid profile fields become questionnaire answers and preferences (the documented mapping).

Values are the 2021 release's, after HTML unescaping and with the typographic apostrophe (’)
written as ``'``. A blank field, or a value not listed here, leaves the question unanswered.

Preferences
-----------
=================  ===========================================================================
sex, orientation   genders sought
=================  ===========================================================================
m, straight        woman
f, straight        man
m, gay             man
f, gay             woman
m/f, bisexual      man and woman
=================  ===========================================================================

* gender: ``m`` -> man, ``f`` -> woman.
* age range: ``[max(18, age - 5 - age // 10), age + 5 + age // 10]`` (e.g. 30 -> 22-38).
* radius 40 km (the data set covers 25 miles around San Francisco); goal ``unsure`` (the data has
  no relationship goal, so ``rc_goal`` stays unanswered); tier free; status active.

Questionnaire answers (default bank)
------------------------------------
==================  ========================================  ====================================
question            OkCupid value                             option / value
==================  ========================================  ====================================
lc_drinks           not at all / rarely / socially / often    never / rarely / socially / often
                    very often, desperately                   very_often
lc_smokes           no / sometimes / when drinking / yes /    no / sometimes / when_drinking /
                    trying to quit                            yes / trying_to_quit
lc_drugs            never / sometimes / often                 never / sometimes / often
lc_diet             [mostly|strictly] anything, vegetarian,   anything, vegetarian, vegan,
                    vegan, kosher, halal, other               kosher, halal, other; importance
                                                              strictly 8, plain 5, mostly 3
lc_pets             has/likes/dislikes dogs, and              has_dogs/likes_dogs/dislikes_dogs,
                    has/likes/dislikes cats                   has_cats/likes_cats/dislikes_cats
cv_religion         agnosticism / atheism / christianity /    agnostic / atheist / christian /
                    catholicism / judaism / islam /           catholic / jewish / muslim /
                    hinduism / buddhism / other               hindu / buddhist / other
cv_religion_imp.    ... and laughing about it                 1 (not at all)
(likert 1-5)        ... but not too serious about it          2 (a little)
                    ... and somewhat serious about it         3 (somewhat)
                    ... and very serious about it             4 (very); no qualifier: unanswered
                    the same qualifier sets the importance    2 / 3 / 7 / 9 (no qualifier: 5)
                    of cv_religion
rc_children         doesn't have kids, but wants them;        no_kids_wants
                    wants kids
                    doesn't have kids, but might want them;   no_kids_maybe
                    might want kids
                    doesn't want kids; doesn't have kids,     no_kids_no
                    and doesn't want any
                    has a kid/kids, and wants more            has_wants_more
                    has a kid/kids, and might want more       has_maybe_more
                    has a kid/kids, but doesn't want more     has_no_more
                    doesn't have kids; has a kid; has kids    unanswered (nothing about wanting)
cv_education        [graduated from|working on] high school   high_school
                    ... two-year college                      vocational
                    ... college/university                    bachelors
                    ... masters program                       masters
                    ... law school, med school                professional
                    ... ph.d program                          doctorate
                    dropped out of high school                other
                    dropped out of two-year college,          some_college
                    college/university
                    dropped out of masters/law/med school     bachelors
                    dropped out of ph.d program               masters
                    (any status) space camp                   other
lc_body_type        thin, skinny                              slim
                    average / fit / curvy, full figured       average / fit / curvy
                    athletic, jacked                          athletic
                    a little extra, overweight                a_little_extra
                    rather not say, used up                   prefer_not
==================  ========================================  ====================================

Importance is 5 unless stated. ``ethnicity``, ``height``, ``income``, ``job``, ``sign`` and
``speaks`` are not used: the default bank asks nothing about them, and ethnicity and income are
deliberately kept out of matching. ``status`` only decides who is imported (``married`` is skipped).
"""

from __future__ import annotations

DRINKS = {
    "not at all": "never", "rarely": "rarely", "socially": "socially", "often": "often",
    "very often": "very_often", "desperately": "very_often",
}
SMOKES = {
    "no": "no", "sometimes": "sometimes", "when drinking": "when_drinking", "yes": "yes",
    "trying to quit": "trying_to_quit",
}
DRUGS = {"never": "never", "sometimes": "sometimes", "often": "often"}
DIETS = ("anything", "vegetarian", "vegan", "kosher", "halal", "other")
DIET_IMPORTANCE = {"strictly": 8, "": 5, "mostly": 3}
PETS = {
    "has dogs": "has_dogs", "likes dogs": "likes_dogs", "dislikes dogs": "dislikes_dogs",
    "has cats": "has_cats", "likes cats": "likes_cats", "dislikes cats": "dislikes_cats",
}
RELIGIONS = {
    "agnosticism": "agnostic", "atheism": "atheist", "christianity": "christian", "catholicism": "catholic",
    "judaism": "jewish", "islam": "muslim", "hinduism": "hindu", "buddhism": "buddhist", "other": "other",
}
# qualifier -> (cv_religion_importance Likert value, importance of the cv_religion answer)
RELIGION_SERIOUSNESS = {
    "and laughing about it": (1, 2),
    "but not too serious about it": (2, 3),
    "and somewhat serious about it": (3, 7),
    "and very serious about it": (4, 9),
}
OFFSPRING = {
    "doesn't have kids, but wants them": "no_kids_wants",
    "wants kids": "no_kids_wants",
    "doesn't have kids, but might want them": "no_kids_maybe",
    "might want kids": "no_kids_maybe",
    "doesn't want kids": "no_kids_no",
    "doesn't have kids, and doesn't want any": "no_kids_no",
    "has a kid, and wants more": "has_wants_more",
    "has kids, and wants more": "has_wants_more",
    "has a kid, and might want more": "has_maybe_more",
    "has kids, and might want more": "has_maybe_more",
    "has a kid, but doesn't want more": "has_no_more",
    "has kids, but doesn't want more": "has_no_more",
}
EDUCATION_LEVEL = {
    "high school": "high_school", "two-year college": "vocational", "college/university": "bachelors",
    "masters program": "masters", "law school": "professional", "med school": "professional",
    "ph.d program": "doctorate", "space camp": "other",
}
EDUCATION_DROPPED = {
    "high school": "other", "two-year college": "some_college", "college/university": "some_college",
    "masters program": "bachelors", "law school": "bachelors", "med school": "bachelors",
    "ph.d program": "masters", "space camp": "other",
}
BODY_TYPES = {
    "thin": "slim", "skinny": "slim", "average": "average", "fit": "fit", "athletic": "athletic",
    "jacked": "athletic", "curvy": "curvy", "full figured": "curvy", "a little extra": "a_little_extra",
    "overweight": "a_little_extra", "rather not say": "prefer_not", "used up": "prefer_not",
}
SEEKS = {  # (sex, orientation) -> gender values sought
    ("m", "straight"): ("woman",), ("f", "straight"): ("man",),
    ("m", "gay"): ("man",), ("f", "gay"): ("woman",),
    ("m", "bisexual"): ("man", "woman"), ("f", "bisexual"): ("man", "woman"),
}
GENDER_OF_SEX = {"m": "man", "f": "woman"}


def diet(value: str) -> tuple[str, int] | None:
    """``"strictly vegan"`` -> ``("vegan", 8)``: option id and importance, or ``None``."""
    strength, _, kind = value.partition(" ") if value.startswith(("mostly ", "strictly ")) else ("", "", value)
    return (kind, DIET_IMPORTANCE[strength]) if kind in DIETS else None


def pets(value: str) -> tuple[str, ...] | None:
    """``"likes dogs and has cats"`` -> ``("likes_dogs", "has_cats")``, or ``None``."""
    parts = [PETS.get(p.strip()) for p in value.split(" and ")]
    return tuple(p for p in parts if p) if value and all(parts) else None


def religion(value: str) -> tuple[str, int | None, int] | None:
    """``"judaism but not too serious about it"`` -> ``("jewish", 2, 3)``: option, Likert, importance."""
    for qualifier, (likert, importance) in RELIGION_SERIOUSNESS.items():
        if value.endswith(" " + qualifier):
            base = RELIGIONS.get(value[: -len(qualifier) - 1])
            return (base, likert, importance) if base else None
    base = RELIGIONS.get(value)
    return (base, None, 5) if base else None


def education(value: str) -> str | None:
    """``"dropped out of masters program"`` -> ``"bachelors"`` (see the table), or ``None``."""
    for prefix, table in (("graduated from ", EDUCATION_LEVEL), ("working on ", EDUCATION_LEVEL),
                          ("dropped out of ", EDUCATION_DROPPED)):
        if value.startswith(prefix):
            return table.get(value[len(prefix):])
    return EDUCATION_LEVEL.get(value)
